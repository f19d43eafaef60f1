// Coverage builds only (tests/CMakeLists.txt links this with -Wl,--wrap=_exit,--wrap=_Exit,
// --wrap=abort when CMAKE_CXX_FLAGS has --coverage). gcov writes a process's counts from an
// atexit handler, which _exit(), _Exit() and abort() skip: without this, every forked child of
// the tests (the death tests, the multi-process, crash and limits tests, each ending in one of
// these) would run library code that the coverage report never sees. Each wrapper writes the
// counts first (__gcov_dump, libgcov's own call), then does what was asked. A child killed by a
// signal still writes nothing: that is the point of those tests.
extern "C" {
void __gcov_dump(void);
[[noreturn]] void __real__exit(int);
[[noreturn]] void __real__Exit(int);
[[noreturn]] void __real_abort(void);

[[noreturn]] void __wrap__exit(int status) {
    __gcov_dump();
    __real__exit(status);
}
[[noreturn]] void __wrap__Exit(int status) {
    __gcov_dump();
    __real__Exit(status);
}
[[noreturn]] void __wrap_abort(void) {
    __gcov_dump();
    __real_abort();
}
}
