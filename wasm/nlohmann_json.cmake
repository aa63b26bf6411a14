# nlohmann/json for the Emscripten build. The toolchain confines find_package() to
# Emscripten's sysroot, and the host's /usr/include must stay off the include path
# (its libc headers would shadow Emscripten's). nlohmann/json is header-only, so the
# host's nlohmann/ directory alone is linked into the build tree and used from there.
find_path(RAFTBOOK_NLOHMANN_INCLUDE nlohmann/json.hpp
  PATHS /usr/include /usr/local/include NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
if(NOT RAFTBOOK_NLOHMANN_INCLUDE)
  message(FATAL_ERROR "nlohmann/json.hpp not found: install nlohmann-json3-dev, or pass "
                      "-DRAFTBOOK_NLOHMANN_INCLUDE=<the directory that holds nlohmann/>")
endif()
set(RAFTBOOK_HOST_INCLUDE ${CMAKE_BINARY_DIR}/host-include)
file(MAKE_DIRECTORY ${RAFTBOOK_HOST_INCLUDE})
file(CREATE_LINK ${RAFTBOOK_NLOHMANN_INCLUDE}/nlohmann ${RAFTBOOK_HOST_INCLUDE}/nlohmann SYMBOLIC)
add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
target_include_directories(nlohmann_json::nlohmann_json SYSTEM INTERFACE ${RAFTBOOK_HOST_INCLUDE})
