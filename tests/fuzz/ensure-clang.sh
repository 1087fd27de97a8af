#!/bin/sh
# make fuzz needs clang with libFuzzer (Debian: clang + libclang-rt-14-dev);
# installs them as root with apt-get, otherwise says what to install.
cc=${1:-clang}
probe() {
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' |
        "$cc" -x c -fsanitize=fuzzer,address,undefined -o /dev/null - >/dev/null 2>&1
}
probe && exit 0
pkgs="clang libclang-rt-14-dev"
if [ "$(id -u)" = 0 ]; then
    echo "  APT     $pkgs"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs) >/dev/null || exit 1
    probe && exit 0
fi
echo "make fuzz needs $cc with libFuzzer: apt-get install $pkgs" >&2
exit 1
