# Registers every test with ctest: unit tests (cmocka), integration tests
# (real tower and agent processes) and bounded fuzz runs. With OC_ASAN_DIR set,
# each unit and integration test also runs against the sanitizer build.

find_library(CMOCKA_LIB cmocka REQUIRED)
set(OC_TEST_ENV "OC_SRC=${CMAKE_SOURCE_DIR}" "CI=true")

file(GLOB UNIT_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${UNIT_SRC})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${name} octower ocagent ocshared ${CMOCKA_LIB})
  add_test(NAME unit/${name} COMMAND ${CMAKE_BINARY_DIR}/tests/${name})
  set_tests_properties(unit/${name} PROPERTIES ENVIRONMENT "${OC_TEST_ENV}" TIMEOUT 120)
  if(OC_ASAN_DIR)
    add_test(NAME asan/unit/${name} COMMAND ${OC_ASAN_DIR}/tests/${name})
    set_tests_properties(asan/unit/${name} PROPERTIES ENVIRONMENT "${OC_TEST_ENV}" TIMEOUT 300)
  endif()
endforeach()

# The unit tests that open a store run again on PostgreSQL:
# tests/integration/pg_run.sh starts a throwaway server from Debian's package
# (initdb, pg_ctl, a port on loopback) and names it in OC_TEST_STORE_URL; the
# run fails, never skips, when the server cannot be started.
foreach(name test_store test_enroll test_nodes test_task_json test_workflow test_ticket_share
             test_feed)
  add_test(NAME unit/${name}@pg
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/pg_run.sh ${CMAKE_BINARY_DIR}/tests/${name})
  set_tests_properties(unit/${name}@pg PROPERTIES ENVIRONMENT "${OC_TEST_ENV}" TIMEOUT 180)
  if(OC_ASAN_DIR)
    add_test(NAME asan/unit/${name}@pg
             COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/pg_run.sh ${OC_ASAN_DIR}/tests/${name})
    set_tests_properties(asan/unit/${name}@pg PROPERTIES ENVIRONMENT "${OC_TEST_ENV}" TIMEOUT 300)
  endif()
endforeach()

file(GLOB INTEG_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_*.sh)
foreach(src ${INTEG_SRC})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME integration/${name} COMMAND bash ${src})
  set_tests_properties(integration/${name} PROPERTIES
    ENVIRONMENT "${OC_TEST_ENV};OC_BIN=${CMAKE_BINARY_DIR}/bin" TIMEOUT 300)
  if(OC_ASAN_DIR)
    add_test(NAME asan/integration/${name} COMMAND bash ${src})
    set_tests_properties(asan/integration/${name} PROPERTIES
      ENVIRONMENT "${OC_TEST_ENV};OC_BIN=${OC_ASAN_DIR}/bin;OC_SANITIZED=1" TIMEOUT 600)
  endif()
endforeach()

# Fuzz targets live in the sanitizer build (clang); each runs for a bounded time
# over a copy of its seed corpus.
if(OC_ASAN_DIR)
  file(GLOB FUZZ_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
  set(OC_FUZZ_SECONDS 30 CACHE STRING "seconds each fuzz target runs in make test")
  foreach(src ${FUZZ_SRC})
    get_filename_component(name ${src} NAME_WE)
    add_test(NAME fuzz/${name}
             COMMAND bash ${CMAKE_SOURCE_DIR}/tests/fuzz/run.sh ${OC_ASAN_DIR}/bin/${name} ${OC_FUZZ_SECONDS})
    set_tests_properties(fuzz/${name} PROPERTIES ENVIRONMENT "${OC_TEST_ENV}" TIMEOUT 600)
  endforeach()
endif()

# Role scripts tested with command shims (fake kubeadm, kubectl, ...).
file(GLOB ROLE_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/roles/test_*.sh)
foreach(src ${ROLE_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME roles/${name} COMMAND bash ${src})
  set_tests_properties(roles/${name} PROPERTIES ENVIRONMENT "${OC_TEST_ENV}" TIMEOUT 900)
endforeach()

# Tests that make local-provider nodes share the host's bridge and netns
# names, and test_packages, whose install and purge on the host make and
# remove /run/overcloud-demo under every demo OverCloud: one at a time.
foreach(name test_overcloud test_workflow test_local_provider test_attach test_attach_k8s
             test_console test_pattern_inputs test_out_of_tree test_packages test_store_pg test_replicas
             test_replica_feed)
  foreach(prefix integration asan/integration)
    if(TEST ${prefix}/${name})
      set_tests_properties(${prefix}/${name} PROPERTIES RESOURCE_LOCK local_provider)
    endif()
  endforeach()
endforeach()

# test_userdata_retry holds the outages the issue names (the tower down for
# 2 minutes, no route for 30 s) on top of its other cases.
if(TEST integration/test_userdata_retry)
  set_tests_properties(integration/test_userdata_retry PROPERTIES TIMEOUT 600)
endif()

# test_libvirt_failures starts a private libvirtd (libvirt_env.sh) and boots
# small domains under TCG: it holds the lock the end-to-end VM tests
# (tests/e2e, RESOURCE_LOCK vm_e2e) hold, so VMs never run two tests at once.
foreach(prefix integration asan/integration)
  if(TEST ${prefix}/test_libvirt_failures)
    set_tests_properties(${prefix}/test_libvirt_failures PROPERTIES RESOURCE_LOCK vm_e2e)
  endif()
endforeach()

# End-to-end tests (tests/e2e/test_*.sh): real VMs of build/vm-image under
# qemu with TCG emulation; label e2e, run by `make e2e` (make test leaves them
# out), one at a time, the normal build only.
file(GLOB E2E_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/e2e/test_*.sh)
foreach(src ${E2E_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME e2e/${name} COMMAND bash ${src})
  set_tests_properties(e2e/${name} PROPERTIES
    ENVIRONMENT "${OC_TEST_ENV};OC_BIN=${CMAKE_BINARY_DIR}/bin" TIMEOUT 3600
    LABELS e2e RESOURCE_LOCK vm_e2e)
endforeach()

# Fault tests (tests/faults/test_*.sh): real towers and agents under injected
# faults; all of them on the local provider, so one at a time.
file(GLOB FAULT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/faults/test_*.sh)
foreach(src ${FAULT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME faults/${name} COMMAND bash ${src})
  set_tests_properties(faults/${name} PROPERTIES
    ENVIRONMENT "${OC_TEST_ENV};OC_BIN=${CMAKE_BINARY_DIR}/bin" TIMEOUT 300
    RESOURCE_LOCK local_provider)
endforeach()

# overcloud-agent-skewed (tests/faults/clock_shim.c): the agent with a wall
# clock a test can move, for tests/faults/test_clock_skew.sh; built beside the
# tests, never packaged.
if(TARGET overcloud-agent AND NOT OC_AGENT_ONLY)
  if(OC_STATIC_AGENT)
    add_executable(overcloud-agent-skewed agent/main.c agent/compat/link_trim.c tests/faults/clock_shim.c)
    target_link_options(overcloud-agent-skewed PRIVATE -static)
    add_dependencies(overcloud-agent-skewed agent_event_core)
  else()
    add_executable(overcloud-agent-skewed agent/main.c tests/faults/clock_shim.c)
  endif()
  target_link_options(overcloud-agent-skewed PRIVATE -Wl,--wrap=time -Wl,--wrap=clock_gettime)
  target_link_libraries(overcloud-agent-skewed ${AGENT_LIBS})
  set_target_properties(overcloud-agent-skewed PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endif()
