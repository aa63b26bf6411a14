// The Raft rules, each in one place. Section numbers refer to the Raft paper
// (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm") and,
// for pre-vote, check-quorum and ReadIndex, to Ongaro's thesis.
//
//   rule                                   where
//   ------------------------------------   ---------------------------------------
//   higher term: adopt it, become follower step_term
//   randomized election timeout            reset_election_timer, tick
//   pre-vote (thesis §9.6)                 start_election, handle_vote_request
//   one vote per term (§5.2)               handle_vote_request
//   election restriction (§5.4.1)          handle_vote_request, RaftLog::is_up_to_date
//   check-quorum (thesis §6.2)             tick, check_quorum_active, step_term (lease)
//   leader appends a no-op (§8)            become_leader
//   malformed AppendEntries ignored        step (malformed_append in message.h)
//   consistency check (§5.3)               handle_append
//   conflicting entries replaced (§5.3)    RaftLog::merge
//   fast backtracking                      handle_append (hint), handle_append_response
//   a follower whose disk was wiped gets   handle_append_response
//     the log (or snapshot) again
//   commit only current-term entries (§5.4.2, Figure 8)   maybe_commit
//   followers learn commitIndex            handle_append, handle_heartbeat
//   persist before responding (§5)         send_after_persist
//   catch-up: re-send what a heartbeat     handle_heartbeat_response, send_append
//     answer shows a follower still lacks
//   ReadIndex (thesis §6.4)                read_index, handle_heartbeat_response
//   ReadIndex contexts increase            read_index
//   log compaction (§7)                    snapshot_taken, RaftLog::compact
//   a follower needing compacted entries   send_append (enters Progress Snapshot),
//     is sent the snapshot, in chunks        send_snapshot_chunk (flow control)
//   chunks accepted in order only, one     handle_snapshot
//     snapshot at a time, never mixed
//   a lost chunk is re-sent                handle_heartbeat_response
//   snapshot at or below commit ignored    handle_snapshot
//   install: matching suffix kept, else    install_snapshot, RaftLog::restore
//     the log is reset; ack after persist
//   AppendEntries resume after install     handle_append_response (Snapshot state)
//
// Membership (thesis ch. 4; membership.h) and leadership transfer (thesis §3.10):
//   configuration in force = newest Config  use_newest_config (leader: propose_conf_change;
//     entry in the log, used once appended;   follower: handle_append; snapshot:
//     back to the newest left on truncation   install_snapshot), membership_at
//   snapshots record the configuration     snapshot_taken, send_snapshot_chunk,
//     at their index                         handle_snapshot
//   majorities count voters of the         counts, maybe_commit, check_quorum_active,
//     configuration in force only            release_reads, handle_vote_response
//   non-voters never campaign              start_election
//   learners are replicated to             track_members
//   one change at a time; 2015 correction; propose_conf_change
//     promote only a caught-up learner
//   a leader removed steps down once its   maybe_commit
//     removal commits
//   leadership transfer: no proposals,     transfer_leadership, propose, tick,
//     catch the target up, TimeoutNow,       send_timeout_now_if_caught_up,
//     abandoned after an election timeout    handle_timeout_now
//   a transfer campaign skips pre-vote and handle_timeout_now, step_term
//     passes the leader lease
#include "core/raft/raft.h"

#include <algorithm>

namespace raftbook {

const char* role_name(Role r) {
    switch (r) {
        case Role::Follower: return "follower";
        case Role::PreCandidate: return "precandidate";
        case Role::Candidate: return "candidate";
        case Role::Leader: return "leader";
    }
    return "?";
}

Raft::Raft(const RaftConfig& config, Restored r)
    : cfg_(config),
      log_(r.first_index, r.prev_term, std::move(r.entries), r.hard_state.commit_index),
      current_term_(r.hard_state.current_term),
      voted_for_(r.hard_state.voted_for),
      rng_state_(config.random_seed * 0x9E3779B97F4A7C15ULL + config.id) {
    base_membership_ = cfg_.members.empty() ? Membership::of_voters(cfg_.peers) : cfg_.members;
    if (r.snapshot) {
        if (!r.snapshot->meta.membership.empty()) base_membership_ = r.snapshot->meta.membership;
        snapshot_ = std::make_shared<const Snapshot>(std::move(*r.snapshot));
    }
    membership_index_ = newest_config(log_.last_index(), &membership_);
    last_applied_ = applying_ = std::max(r.applied_index, log_.prev_index());
    prev_hard_state_ = hard_state();
    become_follower(current_term_, kNoNode);
}

uint64_t Raft::next_random() {  // splitmix64: this node's own seeded source
    uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// Randomized election timeouts (§5.2) make split votes rare: each node waits a
// different time in [election_tick, 2 * election_tick) before campaigning.
void Raft::reset_election_timer() {
    randomized_timeout_ = cfg_.election_tick + int(next_random() % uint64_t(cfg_.election_tick));
}

void Raft::reset(Term term) {
    if (term != current_term_) {
        current_term_ = term;
        voted_for_ = kNoNode;
        receiving_.reset();  // a snapshot being received came from an older leader
    }
    leader_ = kNoNode;
    election_elapsed_ = 0;
    heartbeat_elapsed_ = 0;
    reset_election_timer();
    votes_granted_.clear();
    votes_rejected_.clear();
    progress_.clear();
    pending_reads_.clear();
    last_read_context_ = 0;
    broadcast_pending_ = false;
    heartbeat_pending_ = false;
    transfer_target_ = kNoNode;  // a leader stepping down abandons its transfer
}

void Raft::become_follower(Term term, NodeId leader) {
    reset(term);
    role_ = Role::Follower;
    leader_ = leader;
}

void Raft::become_pre_candidate() {
    // A pre-candidate keeps its term and vote: it only asks whether it could win.
    role_ = Role::PreCandidate;
    leader_ = kNoNode;
    election_elapsed_ = 0;
    reset_election_timer();
    votes_granted_.clear();
    votes_rejected_.clear();
}

void Raft::become_candidate() {
    reset(current_term_ + 1);
    role_ = Role::Candidate;
    voted_for_ = cfg_.id;
}

void Raft::become_leader() {
    reset(current_term_);
    role_ = Role::Leader;
    leader_ = cfg_.id;
    track_members(log_.last_index() + 1);
    // §8: a new leader does not know which earlier entries are committed until it
    // commits one of its own term, so it appends a no-op at once.
    Entry noop;
    noop.index = log_.last_index() + 1;
    noop.term = current_term_;
    noop.type = EntryType::NoOp;
    log_.append(std::move(noop));
    broadcast_pending_ = true;
}

Progress* Raft::progress_mut(NodeId peer) {
    for (auto& [id, pr] : progress_)
        if (id == peer) return &pr;
    return nullptr;
}

const Progress* Raft::progress(NodeId peer) const {
    return const_cast<Raft*>(this)->progress_mut(peer);
}

void Raft::send(Message m) {
    m.from = cfg_.id;
    msgs_.push_back(std::move(m));
}

// Persist before responding (§5, Figure 2: "updated on stable storage before
// responding to RPCs"): votes, vote requests and acknowledgements promise something
// about this node's disk, so the host sends them only once the Ready is durable.
void Raft::send_after_persist(Message m) {
    m.from = cfg_.id;
    if (faults.ack_before_persist) {
        msgs_.push_back(std::move(m));
    } else {
        msgs_after_persist_.push_back(std::move(m));
    }
}

// What this node vouches for as its own: its durable log. The leader counts only that
// toward a majority (its own disk is one of the copies) and applies, and so answers
// clients, only up to it. (Under ack_before_persist the whole log, durable or not: the
// node acknowledges to itself, and to its clients, before it persists.)
Index Raft::vouched_index() const {
    return faults.ack_before_persist ? log_.last_index() : log_.persisted_index();
}

// ---------------------------------------------------------------- inputs

void Raft::tick() {
    if (role_ == Role::Leader) {
        heartbeat_elapsed_++;
        election_elapsed_++;
        // Leadership transfer: abandoned when the target has not taken over within an
        // election timeout (it is down or cut off); proposals are accepted again.
        if (transfer_target_ != kNoNode && ++transfer_elapsed_ >= cfg_.election_tick) transfer_target_ = kNoNode;
        if (election_elapsed_ >= cfg_.election_tick) {
            election_elapsed_ = 0;
            // Check-quorum: a leader that has not heard from a majority for a whole
            // election timeout steps down, so a partitioned leader stops serving reads.
            if (cfg_.check_quorum && !check_quorum_active()) {
                become_follower(current_term_, kNoNode);
                return;
            }
        }
        if (heartbeat_elapsed_ >= cfg_.heartbeat_tick) {
            heartbeat_elapsed_ = 0;
            broadcast_heartbeat(pending_reads_.empty() ? 0 : pending_reads_.back().context);
        }
        return;
    }
    election_elapsed_++;
    if (election_elapsed_ >= randomized_timeout_) start_election(cfg_.pre_vote);
}

void Raft::campaign() {
    if (role_ != Role::Leader) start_election(cfg_.pre_vote);
}

// Only a voter of its configuration in force campaigns: learners, removed nodes and
// nodes still joining (no configuration yet) never do, so tick() starts no election
// for them. `context` is kTransferCampaign for a campaign started by TimeoutNow.
void Raft::start_election(bool pre_vote, uint64_t context) {
    if (!is_voter()) return;
    if (pre_vote) {
        become_pre_candidate();
    } else {
        become_candidate();
    }
    votes_granted_.push_back(cfg_.id);
    if (votes_granted_.size() >= quorum()) {  // a one-node cluster wins at once
        if (pre_vote) {
            start_election(false);
        } else {
            become_leader();
        }
        return;
    }
    for (NodeId p : membership_.voters()) {
        if (p == cfg_.id) continue;
        Message m;
        m.type = pre_vote ? MessageType::PreVote : MessageType::Vote;
        m.to = p;
        m.term = pre_vote ? current_term_ + 1 : current_term_;
        m.index = log_.last_index();
        m.log_term = log_.last_term();
        m.context = context;
        if (pre_vote) {
            send(std::move(m));  // a pre-vote changes nothing on disk
        } else {
            send_after_persist(std::move(m));  // our new term and self-vote must be durable
        }
    }
}

ProposeResult Raft::propose(std::string data, uint64_t client_id, uint64_t seq, Index* index) {
    if (role_ != Role::Leader) return ProposeResult::NotLeader;
    if (transfer_target_ != kNoNode) return ProposeResult::Dropped;  // transferring leadership
    Entry e;
    e.index = log_.last_index() + 1;
    e.term = current_term_;
    e.type = EntryType::Command;
    e.data = std::move(data);
    e.client_id = client_id;
    e.seq = seq;
    if (index) *index = e.index;
    log_.append(std::move(e));
    // Batching: proposals made before the next ready() travel in one AppendEntries.
    broadcast_pending_ = true;
    return ProposeResult::Ok;
}

bool Raft::read_index(uint64_t context) {
    if (role_ != Role::Leader) return false;
    // ReadIndex step 1 (thesis §6.4): the leader's commit index is only known to be
    // current once it has committed an entry of its own term (its no-op).
    if (log_.term(log_.commit_index()) != current_term_) return false;
    // Contexts increase within a leadership. A heartbeat answer confirms every read
    // whose context is at most the one it echoes, so a context no greater than one
    // already used could be confirmed by answers to heartbeats sent before this read
    // was asked for (the shape of etcd-io/etcd#20418). Zero, the heartbeat's "no
    // read", is refused the same way.
    if (context <= last_read_context_) return false;
    last_read_context_ = context;
    pending_reads_.push_back({log_.commit_index(), context});
    release_reads();  // a one-voter cluster confirms at once
    if (!pending_reads_.empty()) heartbeat_pending_ = true;  // step 2: one heartbeat round confirms
    return true;
}

void Raft::step(const Message& m) {
    if (m.to != cfg_.id) return;
    // A malformed AppendEntries (entries with a gap after prevLogIndex, decreasing
    // terms, or terms above the message's) cannot come from a leader, and merging it
    // would break the log's shape, so it is ignored whole — before it can even raise
    // our term. The decoder refuses such frames already; this guards every other path.
    if (!malformed_append(m).empty() || !malformed_snapshot(m).empty()) return;
    if (!step_term(m)) return;
    switch (m.type) {
        case MessageType::Vote:
        case MessageType::PreVote: handle_vote_request(m); break;
        case MessageType::VoteResp:
        case MessageType::PreVoteResp: handle_vote_response(m); break;
        case MessageType::Append: handle_append(m); break;
        case MessageType::AppendResp: handle_append_response(m); break;
        case MessageType::Heartbeat: handle_heartbeat(m); break;
        case MessageType::HeartbeatResp: handle_heartbeat_response(m); break;
        case MessageType::Snapshot: handle_snapshot(m); break;
        case MessageType::SnapshotResp: handle_snapshot_response(m); break;
        case MessageType::TimeoutNow: handle_timeout_now(m); break;
        case MessageType::ClientRequest:
        case MessageType::ClientReply:
        case MessageType::Hello:
        case MessageType::Auth: break;  // handled by the host, never by the core
    }
}

// Figure 2, "all servers": a message with a higher term makes us adopt that term and
// become a follower; a message with a lower term is stale. Two refinements:
//   - pre-vote: a PreVote (and a granted PreVoteResp) carries a term nobody holds
//     yet, so it changes nothing.
//   - leader lease (check-quorum, thesis §4.2.3): a node that heard from a live
//     leader within the minimum election timeout ignores vote requests, so a node
//     that was partitioned away and comes back cannot depose a healthy leader —
//     except a candidate the leader itself asked to take over (leadership transfer:
//     its Vote carries kTransferCampaign).
bool Raft::step_term(const Message& m) {
    const bool vote_request = m.type == MessageType::Vote || m.type == MessageType::PreVote;
    const bool transfer = m.type == MessageType::Vote && m.context == kTransferCampaign;
    if (m.term > current_term_) {
        if (vote_request && !transfer && cfg_.check_quorum && leader_ != kNoNode &&
            election_elapsed_ < cfg_.election_tick) {
            return false;
        }
        if (m.type == MessageType::PreVote) return true;
        if (m.type == MessageType::PreVoteResp && !m.reject) return true;
        const bool from_leader = m.type == MessageType::Append || m.type == MessageType::Heartbeat ||
                                 m.type == MessageType::Snapshot;
        become_follower(m.term, from_leader ? m.from : kNoNode);
        return true;
    }
    if (m.term < current_term_) {
        if (m.type == MessageType::Append || m.type == MessageType::Heartbeat || m.type == MessageType::Snapshot) {
            // A stale leader: answer with our term so that it steps down.
            Message r;
            r.type = MessageType::AppendResp;
            r.to = m.from;
            r.term = current_term_;
            r.reject = true;
            send(std::move(r));
        } else if (m.type == MessageType::PreVote) {
            Message r;
            r.type = MessageType::PreVoteResp;
            r.to = m.from;
            r.term = current_term_;
            r.reject = true;
            send(std::move(r));
        }
        return false;
    }
    return true;
}

// RequestVote receiver (§5.2, §5.4.1).
void Raft::handle_vote_request(const Message& m) {
    const bool pre = m.type == MessageType::PreVote;
    // One vote per term: grant only if we have not voted in this term (and know of no
    // leader in it), or voted for this same candidate already. A pre-vote for a
    // future term binds nothing, so it may always be granted.
    const bool can_vote = voted_for_ == m.from || (voted_for_ == kNoNode && leader_ == kNoNode) ||
                          (pre && m.term > current_term_);
    // Election restriction: the candidate's log must be at least as up-to-date as ours.
    const bool log_ok = faults.vote_without_log_check || log_.is_up_to_date(m.index, m.log_term);
    Message r;
    r.type = pre ? MessageType::PreVoteResp : MessageType::VoteResp;
    r.to = m.from;
    if (can_vote && log_ok) {
        r.term = m.term;
        if (!pre) {
            voted_for_ = m.from;
            election_elapsed_ = 0;
        }
    } else {
        r.term = current_term_;
        r.reject = true;
    }
    if (pre) {
        send(std::move(r));
    } else {
        send_after_persist(std::move(r));  // the vote must be durable before it is cast
    }
}

void Raft::handle_vote_response(const Message& m) {
    const bool pre = m.type == MessageType::PreVoteResp;
    if (role_ != (pre ? Role::PreCandidate : Role::Candidate)) return;
    if (pre && !m.reject && m.term != current_term_ + 1) return;  // from an older round
    if (!counts(m.from)) return;  // only the voters of our configuration decide
    auto& list = m.reject ? votes_rejected_ : votes_granted_;
    if (std::find(list.begin(), list.end(), m.from) != list.end()) return;
    list.push_back(m.from);
    if (votes_granted_.size() >= quorum()) {
        if (pre) {
            start_election(false);
        } else {
            become_leader();
        }
    } else if (votes_rejected_.size() >= quorum()) {
        become_follower(current_term_, kNoNode);
    }
}

// AppendEntries receiver (§5.3).
void Raft::handle_append(const Message& m) {
    if (role_ == Role::Leader) return;  // same term, two leaders: impossible (§5.2)
    if (role_ != Role::Follower) become_follower(m.term, m.from);
    leader_ = m.from;
    election_elapsed_ = 0;

    Message r;
    r.type = MessageType::AppendResp;
    r.to = m.from;
    r.term = current_term_;
    if (m.index < log_.commit_index()) {
        // Everything up to our commit index is committed, hence identical on the leader.
        r.index = log_.commit_index();
        send_after_persist(std::move(r));
        return;
    }
    // Consistency check: reject unless our log holds an entry at prevLogIndex whose
    // term is prevLogTerm. This is what makes Log Matching an induction.
    const bool prev_ok = faults.skip_prev_log_check ? m.index <= log_.last_index()
                                                    : log_.matches(m.index, m.log_term);
    if (!prev_ok) {
        // Fast backtracking: rather than "try one index lower", tell the leader the
        // last index at or below prevLogIndex whose term is <= prevLogTerm, and its
        // term. The leader skips to the last entry it holds with a term <= that one,
        // so each round trip skips a whole term of divergent entries (or the whole
        // gap when we are simply behind), not one entry.
        r.reject = true;
        r.index = m.index;
        r.hint_index = log_.last_index_with_term_at_most(std::min(m.index, log_.last_index()), m.log_term);
        r.hint_term = log_.term(r.hint_index).value_or(0);
        send_after_persist(std::move(r));
        return;
    }
    Index truncated_from = 0;
    const Index last_new = log_.merge(m.index, m.entries, &truncated_from);
    // Configuration in force, follower side: a Config entry rules once appended, and
    // when a conflicting suffix took away the one in force, the newest left rules.
    const bool new_config = std::any_of(m.entries.begin(), m.entries.end(),
                                        [](const Entry& e) { return e.type == EntryType::Config; });
    if (new_config || (truncated_from != 0 && truncated_from <= membership_index_)) use_newest_config();
    // "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of
    // last new entry)": never beyond what this message proved we share.
    log_.commit_to(std::min(m.commit, last_new));
    r.index = last_new;
    send_after_persist(std::move(r));  // the entries must be durable before we ack them
}

void Raft::handle_append_response(const Message& m) {
    if (role_ != Role::Leader) return;
    Progress* pr = progress_mut(m.from);
    if (!pr) return;
    pr->recent_active = true;
    if (pr->state == Progress::State::Snapshot) {
        // Answers to appends sent before the transfer say nothing about the snapshot;
        // an AppendResp at or beyond the snapshot's index says the follower holds it
        // (installed and durable, or it had it already): AppendEntries resume from there.
        if (m.reject) return;
        pr->match_index = std::max(pr->match_index, m.index);
        if (m.index >= pr->snapshot->meta.index) {
            pr->state = Progress::State::Replicate;
            pr->snapshot.reset();
            pr->inflight.clear();
            pr->next_index = pr->match_index + 1;
        }
        maybe_commit();
        while (send_append(m.from)) {}
        return;
    }
    if (m.reject) {
        if (m.index == pr->match_index && m.index > 0 && m.hint_index == 0 && m.hint_term == 0) {
            // A follower that acknowledged entries now holds none at all: its data dir was
            // wiped (Raft assumes it never is; this is a restore from nothing, not a safe
            // recovery, as its vote is lost too). Forget what it held and send it
            // everything again, as a snapshot once the log is compacted.
            pr->match_index = 0;
            pr->state = Progress::State::Probe;
            pr->next_index = m.index + 1;
        }
        if (m.index <= pr->match_index) return;  // stale: we know it matches further
        if (pr->state == Progress::State::Probe && m.index + 1 != pr->next_index) return;  // stale probe
        // Fast backtracking, leader side: the last index we hold whose term is <= the
        // follower's hint term is the highest point where the two logs can agree.
        const Index agree = m.hint_term > 0
                                ? log_.last_index_with_term_at_most(m.hint_index, m.hint_term)
                                : m.hint_index;
        pr->state = Progress::State::Probe;
        pr->inflight.clear();
        pr->probe_sent = false;
        pr->next_index = std::max(pr->match_index + 1, std::min(m.index, agree + 1));
        send_append(m.from);
        return;
    }
    if (m.index > pr->match_index) pr->match_index = m.index;
    if (pr->next_index <= m.index) pr->next_index = m.index + 1;
    if (pr->state == Progress::State::Probe) {
        // The probe found the point of agreement: from now on, pipeline.
        pr->state = Progress::State::Replicate;
        pr->probe_sent = false;
        pr->next_index = pr->match_index + 1;
    } else {
        auto& in = pr->inflight;
        in.erase(in.begin(), std::upper_bound(in.begin(), in.end(), m.index));
    }
    maybe_commit();
    if (role_ != Role::Leader) return;  // it stepped down: its removal committed
    if (m.from == transfer_target_) send_timeout_now_if_caught_up();
    while (send_append(m.from)) {}
}

void Raft::handle_heartbeat(const Message& m) {
    if (role_ == Role::Leader) return;
    if (role_ != Role::Follower) become_follower(m.term, m.from);
    leader_ = m.from;
    election_elapsed_ = 0;
    log_.commit_to(m.commit);  // the leader clamps m.commit to what we are known to hold
    Message r;
    r.type = MessageType::HeartbeatResp;
    r.to = m.from;
    r.term = current_term_;
    r.context = m.context;
    r.index = log_.last_index();  // 0 tells a leader our log is empty (a wiped data dir)
    send(std::move(r));
}

void Raft::handle_heartbeat_response(const Message& m) {
    if (role_ != Role::Leader) return;
    Progress* pr = progress_mut(m.from);
    if (!pr) return;
    pr->recent_active = true;
    if (m.context > pr->acked_context) {
        pr->acked_context = m.context;
        release_reads();
    }
    if (pr->state == Progress::State::Snapshot) {
        // A lost chunk: the follower keeps only chunks received in order, so after one
        // is lost it answers every later one with the offset it still expects. When a
        // whole heartbeat round brought no progress, send again from that offset (it is
        // 0 when the follower restarted and lost what it had received).
        if (!pr->snapshot_moved) pr->snapshot_sent = pr->snapshot_acked;
        pr->snapshot_moved = false;
        while (send_append(m.from)) {}
        return;
    }
    // A lost append would otherwise stall this follower: a heartbeat answer
    // re-opens the probe, or frees one pipeline slot.
    if (pr->state == Progress::State::Probe) {
        pr->probe_sent = false;
    } else if (pr->inflight.size() >= cfg_.max_inflight) {
        pr->inflight.erase(pr->inflight.begin());
    }
    // Catch-up on heartbeat (etcd's rule, refined). In Replicate, next_index moved on
    // when we sent, so if that append was lost and no new entry comes, nothing would
    // re-send it: the follower stays behind and the entry may never commit. So when a
    // follower still lacks entries we already had at its previous heartbeat answer, we
    // send it an append even if it has no entries (prevLogIndex = next_index - 1): a
    // follower missing entries rejects it, and the rejection drops us back to Probe,
    // which re-sends from where the logs agree; a restarted follower is probed alike.
    // etcd sends this append on every heartbeat answer from a follower behind; we wait
    // until it is a heartbeat round behind, because under load (or when the answer to
    // the heartbeat overtakes the answer to an append still being written to disk) a
    // follower is briefly behind at nearly every heartbeat, and an empty append each
    // time would add an AppendEntries and a response per follower per heartbeat (in
    // sim_test's efficiency test, 1.4 of each per follower per agreement instead of 1.0).
    // The cost is one more heartbeat round before a lost append is re-sent.
    const bool stalled = pr->match_index < pr->last_index_at_heartbeat && !faults.no_catch_up_on_heartbeat;
    pr->last_index_at_heartbeat = log_.last_index();
    // A follower that acknowledged entries and now reports an empty log lost its disk:
    // an append at its match point draws the rejection that starts it over (below, in
    // handle_append_response).
    const bool emptied = m.index == 0 && pr->match_index > 0;
    if (pr->match_index < log_.last_index() || emptied) send_append(m.from, /*even_if_empty=*/stalled || emptied);
}

// InstallSnapshot receiver (§7), one chunk at a time. The chunks of one snapshot from
// one leader (its term, the snapshot's index and term) are kept in memory in order:
// a chunk at another offset is answered with the offset expected (the leader re-sends
// from there), and a chunk of another snapshot or leader drops what was kept. So a
// lost, duplicated or reordered chunk, a new leader or a crash mid-transfer (the buffer
// is not on disk) never produce a partial or mixed snapshot.
void Raft::handle_snapshot(const Message& m) {
    if (role_ == Role::Leader) return;  // same term, two leaders: impossible (§5.2)
    if (role_ != Role::Follower) become_follower(m.term, m.from);
    leader_ = m.from;
    election_elapsed_ = 0;
    // A snapshot at or below our commit index holds nothing we lack, and installing it
    // would discard committed entries after it: ignore it, and answer as to an append
    // so that the leader resumes AppendEntries after our commit index.
    if (m.index <= log_.commit_index() && !faults.install_stale_snapshot) {
        receiving_.reset();
        Message r;
        r.type = MessageType::AppendResp;
        r.to = m.from;
        r.term = current_term_;
        r.index = log_.commit_index();
        send_after_persist(std::move(r));
        return;
    }
    const SnapshotChunk& c = m.chunk();
    SnapshotMeta meta{m.index, m.log_term, {}};
    if (!c.membership.empty() && !Membership::decode(c.membership, &meta.membership).empty()) return;
    const bool same = receiving_ && receiving_->from == m.from && receiving_->term == m.term &&
                      receiving_->meta == meta && receiving_->total == c.total;
    if (!same) {
        receiving_.reset();
        if (c.offset != 0) return answer_snapshot_chunk(m, 0);  // start over
        receiving_ = Receiving{m.from, m.term, meta, c.total, {}};
    }
    if (c.offset != receiving_->data.size()) return answer_snapshot_chunk(m, receiving_->data.size());
    receiving_->data += c.data;
    if (!c.done) return answer_snapshot_chunk(m, receiving_->data.size());
    Snapshot snap{meta, std::make_shared<const std::string>(std::move(receiving_->data))};
    receiving_.reset();
    install_snapshot(std::move(snap), m.from);
}

void Raft::answer_snapshot_chunk(const Message& m, uint64_t expected_offset) {
    Message r;
    r.type = MessageType::SnapshotResp;
    r.to = m.from;
    r.term = current_term_;
    r.index = m.index;
    r.log_term = m.log_term;
    r.chunk_mut().offset = expected_offset;
    send(std::move(r));  // promises nothing about our disk
}

// Installing a whole snapshot: the host checks its state machine data first (a peer's
// garbage is dropped, never installed). The log keeps the entries after the snapshot
// when it holds the snapshot's last entry with the same term, else it is reset (and
// the host drops its stored log); either way the snapshot is committed. The host
// restores its state machine from Ready::snapshot and persists it; the leader learns
// we hold it from an AppendResp sent after that write is durable.
void Raft::install_snapshot(Snapshot s, NodeId leader) {
    if (snapshot_check_ && !snapshot_check_(s)) return;
    const bool stale = s.meta.index <= log_.commit_index();  // only with install_stale_snapshot
    installed_resets_log_ |= log_.restore(s.meta, /*keep_suffix=*/!stale);
    // Configuration in force: the snapshot's, unless the entries kept after it hold a newer one.
    if (!s.meta.membership.empty()) base_membership_ = s.meta.membership;
    use_newest_config();
    last_applied_ = applying_ = s.meta.index;
    snapshot_ = std::make_shared<const Snapshot>(s);
    installed_ = std::move(s);
    Message r;
    r.type = MessageType::AppendResp;
    r.to = leader;
    r.term = current_term_;
    r.index = snapshot_->meta.index;
    send_after_persist(std::move(r));
}

void Raft::handle_snapshot_response(const Message& m) {
    if (role_ != Role::Leader) return;
    Progress* pr = progress_mut(m.from);
    if (!pr) return;
    pr->recent_active = true;
    if (pr->state != Progress::State::Snapshot || pr->snapshot->meta.index != m.index ||
        pr->snapshot->meta.term != m.log_term)
        return;
    const uint64_t offset = m.chunk().offset;
    if (offset > pr->snapshot_acked) pr->snapshot_moved = true;
    pr->snapshot_acked = std::min<uint64_t>(offset, pr->snapshot->size());
    while (send_append(m.from)) {}
}

void Raft::snapshot_taken(Snapshot s, Index compact_to) {
    if (snapshot_ && s.meta.index <= snapshot_->meta.index) return;
    if (!log_.matches(s.meta.index, s.meta.term)) return;  // the log moved on past it (a reset)
    s.meta.membership = membership_at(s.meta.index);  // what a follower installing it must use
    compact_to = std::min(compact_to, s.meta.index);
    if (compact_to > log_.prev_index()) base_membership_ = membership_at(compact_to);
    log_.compact(compact_to);
    snapshot_ = std::make_shared<const Snapshot>(std::move(s));
}

// ---------------------------------------------------------------- leader side

bool Raft::send_append(NodeId to, bool even_if_empty) {
    Progress* pr = progress_mut(to);
    if (!pr) return false;
    if (pr->state == Progress::State::Probe && pr->probe_sent) return false;
    if (pr->state == Progress::State::Replicate && pr->inflight.size() >= cfg_.max_inflight) return false;
    if (pr->state == Progress::State::Snapshot) return send_snapshot_chunk(to, *pr);
    const Index prev = pr->next_index - 1;
    const auto prev_term = log_.term(prev);
    if (!prev_term) {
        // The follower needs entries we compacted away (§7): it gets our snapshot.
        if (!snapshot_) return false;
        pr->state = Progress::State::Snapshot;
        pr->snapshot = snapshot_;
        pr->snapshot_sent = pr->snapshot_acked = 0;
        pr->snapshot_moved = true;  // a heartbeat round's grace before re-sending
        pr->inflight.clear();
        pr->probe_sent = false;
        const bool sent = send_snapshot_chunk(to, *pr);
        while (send_snapshot_chunk(to, *pr)) {}  // fill the window
        return sent;
    }
    Message m;
    m.type = MessageType::Append;
    m.to = to;
    m.term = current_term_;
    m.index = prev;
    m.log_term = *prev_term;
    m.commit = log_.commit_index();
    m.entries = log_.slice(pr->next_index, log_.last_index(), cfg_.max_append_bytes);
    if (m.entries.empty() && !even_if_empty) return false;  // heartbeats carry liveness
    if (pr->state == Progress::State::Probe) {
        pr->probe_sent = true;
    } else if (!m.entries.empty()) {
        // Pipelining: assume success and move on; a rejection falls back to Probe.
        pr->next_index = m.entries.back().index + 1;
        pr->inflight.push_back(m.entries.back().index);
    }
    send(std::move(m));
    return true;
}

// InstallSnapshot, leader side: the next chunk, under flow control (at most
// snapshot_inflight_chunks beyond the offset the follower last said it expects).
// Heartbeats go on meanwhile. The last chunk is answered once it is durable, by an
// AppendResp (handle_append_response). A snapshot is never empty (the state machine's
// encoding has a header), so every chunk carries data.
bool Raft::send_snapshot_chunk(NodeId to, Progress& pr) {
    const Snapshot& s = *pr.snapshot;
    const uint64_t total = s.size();
    const uint64_t chunk = std::max<size_t>(cfg_.snapshot_chunk_bytes, 1);
    pr.snapshot_sent = std::max(pr.snapshot_sent, pr.snapshot_acked);
    if (pr.snapshot_sent >= total) return false;
    if (pr.snapshot_sent - pr.snapshot_acked >= chunk * cfg_.snapshot_inflight_chunks) return false;
    Message m;
    m.type = MessageType::Snapshot;
    m.to = to;
    m.term = current_term_;
    m.index = s.meta.index;
    m.log_term = s.meta.term;
    SnapshotChunk& c = m.chunk_mut();
    c.offset = pr.snapshot_sent;
    c.total = total;
    c.data = s.data->substr(c.offset, chunk);
    c.done = c.offset + c.data.size() == total;
    c.membership = s.meta.membership.empty() ? "" : s.meta.membership.encode();
    pr.snapshot_sent = c.offset + c.data.size();
    send(std::move(m));
    return true;
}

void Raft::broadcast_append() {
    for (auto& [id, pr] : progress_)
        while (send_append(id)) {}
}

void Raft::broadcast_heartbeat(uint64_t context) {
    for (auto& [id, pr] : progress_) {
        Message m;
        m.type = MessageType::Heartbeat;
        m.to = id;
        m.term = current_term_;
        // Never tell a follower to commit beyond what it is known to hold.
        m.commit = std::min(pr.match_index, log_.commit_index());
        m.context = context;
        send(std::move(m));
    }
}

// Commit rule (§5.3, §5.4.2 and Figure 8). An entry is committed once a majority
// holds it — but the leader counts replicas only for an entry of its own term. An
// entry from an earlier term may sit on a majority and still be overwritten, because
// a server without it can be elected; committing a current-term entry on top of it
// commits it indirectly, by Log Matching.
//
// The majority is of the voters of the configuration in force: a learner's copy does
// not count, nor the leader's own while it is removing itself (thesis §4.2.2).
//
// A leader that is no member once its removal commits steps down (thesis §4.2.2): it
// has nothing left to lead, and as no member it never campaigns again.
bool Raft::maybe_commit() {
    std::vector<Index> match;
    if (counts(cfg_.id)) match.push_back(vouched_index());  // our own disk counts too
    for (auto& [id, pr] : progress_)
        if (counts(id)) match.push_back(pr.match_index);
    if (match.size() < quorum()) return false;
    std::sort(match.begin(), match.end(), std::greater<Index>());
    const Index n = match[quorum() - 1];  // the highest index a majority holds
    if (n <= log_.commit_index()) return false;
    if (log_.term(n) != current_term_ && !faults.commit_old_term_by_count) return false;
    const bool config_committed = log_.commit_index() < membership_index_ && n >= membership_index_;
    log_.commit_to(n);
    if (config_committed) track_members(log_.last_index() + 1);  // a removed member's Progress goes
    if (!membership_.is_member(cfg_.id) && log_.commit_index() >= membership_index_) {
        broadcast_heartbeat(0);  // tells the followers the removal is committed
        become_follower(current_term_, kNoNode);
        return false;
    }
    return true;
}

bool Raft::check_quorum_active() {
    size_t active = counts(cfg_.id) ? 1 : 0;  // ourselves
    for (auto& [id, pr] : progress_) {
        if (pr.recent_active && counts(id)) active++;
        pr.recent_active = false;
    }
    return active >= quorum();
}

// ReadIndex step 3: once a majority acknowledged a heartbeat sent after a read was
// requested, we were still leader when it was requested; the read may be served as
// soon as the state machine has applied up to the commit index noted with it.
void Raft::release_reads() {
    while (!pending_reads_.empty()) {
        const PendingRead& pr0 = pending_reads_.front();
        size_t acks = counts(cfg_.id) ? 1 : 0;
        for (auto& [id, pr] : progress_)
            if (pr.acked_context >= pr0.context && counts(id)) acks++;
        if (acks < quorum()) break;
        read_states_.push_back({pr0.index, pr0.context});
        pending_reads_.erase(pending_reads_.begin());
    }
}

// ---------------------------------------------------------------- outputs

// ---------------------------------------------------------------- membership

// Configuration in force (thesis §4.1: "a server always uses the latest configuration
// in its log, regardless of whether the entry is committed"): the newest Config entry
// at or below i, else the configuration at prev_index() (the snapshot's or the
// bootstrap one). Returns the entry's index (0: none in the log).
Index Raft::newest_config(Index i, Membership* out) const {
    for (Index j = std::min(i, log_.last_index()); j > log_.prev_index(); --j) {
        const Entry& e = log_.at(j);
        if (e.type == EntryType::Config && Membership::decode(e.data, out).empty()) return j;
    }
    *out = base_membership_;
    return 0;
}

Membership Raft::membership_at(Index i) const {
    Membership m;
    newest_config(i, &m);
    return m;
}

// The log changed (a Config entry appended, a suffix truncated, a snapshot installed):
// the newest configuration in it is now in force.
void Raft::use_newest_config() {
    membership_index_ = newest_config(log_.last_index(), &membership_);
    if (role_ == Role::Leader) track_members(log_.last_index());
}

// The leader replicates to every other member, voter or learner, alike (learners
// simply never count): a new member gets a Progress at once, probing from
// next_index. A member removed keeps its Progress, and is sent the log, until its
// removal commits, so that it learns it was removed and stops campaigning (it no
// longer counts toward any majority); then its Progress goes. A transfer target that
// is no longer a voter is abandoned.
void Raft::track_members(Index next_index) {
    if (log_.commit_index() >= membership_index_) {
        progress_.erase(std::remove_if(progress_.begin(), progress_.end(),
                                       [&](const auto& p) { return !membership_.is_member(p.first); }),
                        progress_.end());
    }
    for (const Member& m : membership_.members) {
        if (m.id == cfg_.id || progress_mut(m.id)) continue;
        Progress pr;
        pr.next_index = next_index;
        pr.recent_active = true;  // a grace round before check-quorum counts it
        progress_.emplace_back(m.id, pr);
    }
    if (!counts(transfer_target_)) transfer_target_ = kNoNode;
}

// Membership changes, one server at a time (thesis §4.2), leader only.
std::string Raft::propose_conf_change(const ConfChange& cc, Index* index) {
    if (role_ != Role::Leader) return "not leader";
    if (transfer_target_ != kNoNode)
        return "a leadership transfer to node " + std::to_string(transfer_target_) + " is in progress; retry after it";
    // One change at a time: with one configuration entry uncommitted, a second could
    // move the majority before the first is safely in place.
    if (membership_index_ > log_.commit_index())
        return "the configuration change at index " + std::to_string(membership_index_) +
               " is not committed yet; one change at a time, retry once it is";
    // The 2015 correction (Ongaro, raft-dev "bug in single-server membership changes"):
    // a new leader must commit an entry of its own term before it changes the
    // configuration, or a change by an earlier leader that it never saw could form a
    // majority disjoint from its own.
    if (log_.term(log_.commit_index()) != current_term_ && !faults.config_change_before_commit_in_term)
        return "this leader has not committed an entry of its term yet; retry in a moment";
    if (cc.type == ConfChange::Type::Promote) {
        // Promote only a learner that has caught up: a voter far behind would stall
        // commits until it caught up (thesis §4.2.1).
        const Progress* pr = progress(cc.node);
        if (pr && pr->match_index + cfg_.promote_max_lag < log_.last_index())
            return "node " + std::to_string(cc.node) + " has the log up to " + std::to_string(pr->match_index) +
                   " of " + std::to_string(log_.last_index()) + "; it is promoted once within " +
                   std::to_string(cfg_.promote_max_lag) + " entries, retry later";
    }
    Membership next;
    if (std::string error = apply_conf_change(membership_, cc, &next); !error.empty()) return error;
    Entry e;
    e.index = log_.last_index() + 1;
    e.term = current_term_;
    e.type = EntryType::Config;
    e.data = next.encode();
    if (index) *index = e.index;
    log_.append(std::move(e));
    use_newest_config();  // in force at once, on the leader too
    broadcast_pending_ = true;
    return "";
}

// Leadership transfer (thesis §3.10), leader side: stop taking proposals (propose),
// bring the target up to date, and once it holds our whole log tell it to campaign
// (TimeoutNow). tick() abandons it after an election timeout.
std::string Raft::transfer_leadership(NodeId target) {
    if (role_ != Role::Leader) return "not leader";
    if (target == cfg_.id) return "node " + std::to_string(target) + " is the leader already";
    if (!counts(target)) return "node " + std::to_string(target) + " is not a voter; only a voter can lead";
    if (transfer_target_ != kNoNode)
        return "a leadership transfer to node " + std::to_string(transfer_target_) + " is in progress";
    transfer_target_ = target;
    transfer_elapsed_ = 0;
    send_timeout_now_if_caught_up();
    while (send_append(target)) {}
    return "";
}

void Raft::send_timeout_now_if_caught_up() {
    const Progress* pr = progress(transfer_target_);
    if (!pr || pr->match_index != log_.last_index()) return;
    Message m;
    m.type = MessageType::TimeoutNow;
    m.to = transfer_target_;
    m.term = current_term_;
    send(std::move(m));
}

// TimeoutNow receiver: campaign at once, as a candidate (a pre-vote would only delay
// it: the leader asked for this), with vote requests that pass the leader lease.
void Raft::handle_timeout_now(const Message&) {
    if (role_ == Role::Leader) return;
    start_election(/*pre_vote=*/false, kTransferCampaign);
}

bool Raft::has_ready() const {
    const HardState hs = hard_state();
    return broadcast_pending_ || heartbeat_pending_ || hs.current_term != prev_hard_state_.current_term ||
           hs.voted_for != prev_hard_state_.voted_for || log_.unstable_from() <= log_.last_index() ||
           std::min(log_.commit_index(), vouched_index()) > applying_ || !msgs_.empty() ||
           !msgs_after_persist_.empty() || !read_states_.empty() || installed_.has_value();
}

Ready Raft::ready() {
    if (broadcast_pending_) {
        broadcast_pending_ = false;
        broadcast_append();
    }
    if (heartbeat_pending_) {
        heartbeat_pending_ = false;
        if (!pending_reads_.empty()) broadcast_heartbeat(pending_reads_.back().context);
    }
    Ready rd;
    rd.snapshot = std::move(installed_);
    rd.snapshot_resets_log = installed_resets_log_;
    installed_.reset();
    installed_resets_log_ = false;
    // Term and vote must be durable; the commit index rides along when they change
    // (it is only a restart hint, so it does not by itself force a write).
    const HardState hs = hard_state();
    if (hs.current_term != prev_hard_state_.current_term || hs.voted_for != prev_hard_state_.voted_for) {
        rd.hard_state = hs;
        prev_hard_state_ = hs;
    }
    rd.entries = log_.take_unstable();
    // Apply what is committed and durable here, in log order, each entry once.
    const Index hi = std::min(log_.commit_index(), vouched_index());
    if (hi > applying_) {
        rd.committed_entries = log_.slice(applying_ + 1, hi);
        applying_ = hi;
    }
    rd.messages = std::move(msgs_);
    rd.messages_after_persist = std::move(msgs_after_persist_);
    rd.read_states = std::move(read_states_);
    msgs_.clear();
    msgs_after_persist_.clear();
    read_states_.clear();
    return rd;
}

void Raft::persisted(Index index, Term term) {
    log_.persisted_to(index, term);
    if (role_ == Role::Leader) maybe_commit();  // our own copy now counts
}

void Raft::applied(Index index) {
    if (index > last_applied_) last_applied_ = index;
}

}  // namespace raftbook
