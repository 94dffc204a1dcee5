#!/usr/bin/env bash
# Run lunforge's fuzz targets (tests/fuzz/fuzz_targets): each for
# SECONDS, one after the other, starting from its seed corpus
# (tests/fuzz/corpus/TARGET) and from what earlier runs on this machine
# found (TARGET_DIR/fuzz/corpus/TARGET, where new inputs go, so the
# work tree stays clean).
#
#   run.sh SECONDS [TARGET...]      all targets when none is named
#
# Builds with the stable toolchain: no sanitizer (`--sanitizer none`,
# AddressSanitizer needs nightly), but with debug assertions and
# overflow checks; optimised, or with FUZZ_PROFILE=dev unoptimised,
# which builds in half the time and runs slower (CI's brief run).
# cargo-fuzz is installed under TARGET_DIR/tools when `cargo fuzz` is
# missing; libfuzzer-sys needs a C++ compiler (g++,
# which `make fuzz` installs as root like the test oracles).
#
# A crash, a hang (-timeout), or more than -rss_limit_mb of memory
# fails the run; the input is left in TARGET_DIR/fuzz/artifacts/TARGET/
# and the run goes on with the next target. Reproduce one with
#   cargo fuzz run --fuzz-dir tests/fuzz --sanitizer none \
#       --target-dir target/fuzz TARGET FILE
# and turn it into a unit test beside the parser.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:?usage: run.sh SECONDS [TARGET...]}
shift
CARGO=${CARGO:-cargo}
target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
fuzz_dir=tests/fuzz
out=$target_dir/fuzz
# Pinned, so that a new cargo-fuzz release cannot change what CI runs.
cargo_fuzz_version=0.13.2

# The longest input per target: room for the seeds (an image with a
# GPT takes 40 KiB) and no more, so that mutations stay on the format.
max_len() {
    case $1 in
        inspect) echo 65536 ;;
        ar | deb | tar) echo 32768 ;;
        *) echo 8192 ;;
    esac
}

if ! $CARGO fuzz --version >/dev/null 2>&1; then
    if [ ! -x "$target_dir/tools/bin/cargo-fuzz" ]; then
        echo "installing cargo-fuzz $cargo_fuzz_version into $target_dir/tools" >&2
        $CARGO install --locked --quiet --root "$target_dir/tools" \
            --version "$cargo_fuzz_version" cargo-fuzz
    fi
    export PATH=$target_dir/tools/bin:$PATH
fi

build=(--fuzz-dir "$fuzz_dir" --sanitizer none --debug-assertions
       --target-dir "$out")
case ${FUZZ_PROFILE:-release} in
    release) ;;
    dev) build+=(--dev) ;;
    *) echo "FUZZ_PROFILE is release or dev" >&2; exit 2 ;;
esac
if [ $# -eq 0 ]; then
    mapfile -t targets < <($CARGO fuzz list --fuzz-dir "$fuzz_dir")
else
    targets=("$@")
fi

start=$(date +%s)
$CARGO fuzz build "${build[@]}"
echo "fuzz: built ${#targets[@]} targets in $(($(date +%s) - start)) s" >&2

failed=()
for t in "${targets[@]}"; do
    mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
    t0=$(date +%s)
    status=0
    $CARGO fuzz run "${build[@]}" "$t" "$out/corpus/$t" "$fuzz_dir/corpus/$t" \
        -- -max_total_time="$seconds" -max_len="$(max_len "$t")" \
        -rss_limit_mb=512 -malloc_limit_mb=512 -timeout=10 \
        -artifact_prefix="$out/artifacts/$t/" -print_final_stats=1 \
        >"$out/$t.log" 2>&1 || status=$?
    stats=$(grep -E '^stat::number_of_executed_units' "$out/$t.log" \
        | awk '{print $2}' || true)
    echo "fuzz: $t: ${stats:-?} runs in $(($(date +%s) - t0)) s, exit $status" >&2
    if [ "$status" -ne 0 ]; then
        grep -E '^(==[0-9]+==|SUMMARY|thread .* panicked|artifact_prefix|Test unit written)' \
            "$out/$t.log" | head -n 20 >&2 || true
        failed+=("$t")
    fi
done
echo "fuzz: ${#targets[@]} targets in $(($(date +%s) - start)) s" >&2
if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz: failed: ${failed[*]} (logs in $out/TARGET.log)" >&2
    exit 1
fi
