# SPDX-License-Identifier: MIT
# npm_ci.cmake: installs tests/interop/node_modules from the committed
# package-lock.json with `npm ci`, and does nothing when the last successful
# install was of the same package.json + package-lock.json (a stamp file
# inside node_modules holds their hashes; `npm ci` deletes node_modules
# first, so a failed or interrupted install leaves no stamp). A lock file in
# the temp directory keeps two build trees (release and ASan) that share this
# source directory from installing at the same time; it is held until this
# cmake process exits (GUARD PROCESS: GUARD FILE crashes cmake 3.25 in -P mode).
# usage: cmake -DNPM=/usr/bin/npm -DINTEROP_DIR=<src>/tests/interop -P npm_ci.cmake
cmake_minimum_required(VERSION 3.18)
foreach(var NPM INTEROP_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "npm_ci.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT EXISTS "${NPM}")
  message(FATAL_ERROR "npm_ci.cmake: npm not found (${NPM}); install Node.js >= 18 and npm")
endif()

set(stamp "${INTEROP_DIR}/node_modules/.sserooms-npm-ci.stamp")
set(required
  "${INTEROP_DIR}/node_modules/@opinionated-machine/sse-rooms-redis/dist/RedisAdapter.js"
  "${INTEROP_DIR}/node_modules/ioredis/package.json")

string(SHA1 dir_hash "${INTEROP_DIR}")
if(DEFINED ENV{TMPDIR} AND IS_DIRECTORY "$ENV{TMPDIR}")
  set(lock_dir "$ENV{TMPDIR}")
else()
  set(lock_dir "/tmp")
endif()
file(LOCK "${lock_dir}/sserooms-npm-ci-${dir_hash}.lock" GUARD PROCESS TIMEOUT 900
     RESULT_VARIABLE lock_result)
if(NOT lock_result STREQUAL "0")
  message(FATAL_ERROR "npm_ci.cmake: could not lock ${lock_dir}: ${lock_result}")
endif()

file(SHA256 "${INTEROP_DIR}/package.json" package_hash)
file(SHA256 "${INTEROP_DIR}/package-lock.json" lock_hash)
set(want "package.json ${package_hash}\npackage-lock.json ${lock_hash}\n")

set(up_to_date FALSE)
if(EXISTS "${stamp}")
  file(READ "${stamp}" have)
  if(have STREQUAL want)
    set(up_to_date TRUE)
    foreach(f ${required})
      if(NOT EXISTS "${f}")
        set(up_to_date FALSE)
      endif()
    endforeach()
  endif()
endif()
if(up_to_date)
  message(STATUS "tests/interop/node_modules matches package-lock.json: npm ci skipped")
  return()
endif()

execute_process(
  COMMAND "${NPM}" ci --legacy-peer-deps --no-audit --no-fund
  WORKING_DIRECTORY "${INTEROP_DIR}"
  RESULT_VARIABLE npm_result)
if(NOT npm_result STREQUAL "0")
  message(FATAL_ERROR "npm ci in ${INTEROP_DIR} failed: ${npm_result}")
endif()
foreach(f ${required})
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "npm ci succeeded but ${f} is missing")
  endif()
endforeach()
file(WRITE "${stamp}" "${want}")
message(STATUS "tests/interop/node_modules installed from package-lock.json")
