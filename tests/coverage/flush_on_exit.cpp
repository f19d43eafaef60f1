// Coverage builds only (NETABASE_COVERAGE): the suite's forked children end with _exit() or
// _Exit(), which skip the atexit handler that writes clang's coverage counters, so code run only
// in a child (an older release refused by a schema change, a writer before its kill) would count
// as never run. The binary is linked with -Wl,--wrap=_exit,--wrap=_Exit: those calls come here.
extern "C" {
int __llvm_profile_write_file(void);
[[noreturn]] void __real__exit(int status);
[[noreturn]] void __real__Exit(int status);

[[noreturn]] void __wrap__exit(int status) {
    __llvm_profile_write_file();
    __real__exit(status);
}
[[noreturn]] void __wrap__Exit(int status) {
    __llvm_profile_write_file();
    __real__Exit(status);
}
}
