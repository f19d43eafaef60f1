// Coverage builds only (NETABASE_COVERAGE; tests/CMakeLists.txt links the suite with
// -Wl,--wrap=_exit,--wrap=_Exit,--wrap=abort). clang writes a process's coverage counters from
// an atexit handler, which _exit(), _Exit() and abort() skip: without this, every forked child
// of the tests (death tests, older releases refused by a schema change, writers before their
// kill, limits) would run library code that the report never sees. Each wrapper writes the
// counters first, then does what was asked. A child killed by a signal still writes nothing.
extern "C" {
int __llvm_profile_write_file(void);
[[noreturn]] void __real__exit(int status);
[[noreturn]] void __real__Exit(int status);
[[noreturn]] void __real_abort(void);

[[noreturn]] void __wrap__exit(int status) {
    __llvm_profile_write_file();
    __real__exit(status);
}
[[noreturn]] void __wrap__Exit(int status) {
    __llvm_profile_write_file();
    __real__Exit(status);
}
[[noreturn]] void __wrap_abort(void) {
    __llvm_profile_write_file();
    __real_abort();
}
}
