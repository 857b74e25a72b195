# The fuzz stage of scripts/test-all: cargo-fuzz targets, built once and each run for a bounded
# time, with a crash kept as a regression test. Sourced; defines `fuzz_stage`.
#
#   ORRERY_FUZZ_SECONDS   how long each target runs (default 60)
#
# cargo-fuzz is installed into CARGO_HOME when missing (a pinned version, reused later). The
# targets build with the nightly toolchain under ${CARGO_TARGET_DIR:-target}/fuzz, where the
# working corpora grow too, so a cached target directory keeps both. They run side by side, one
# core each, from the seed corpora in the repository. A crash, hang (-timeout) or memory blow-up
# fails the stage and leaves the input in <crate>/fuzz/regressions/<target>/, which an ordinary
# `cargo test` replays (orrery-core/tests/engine/fuzz_regressions.rs,
# orrery-server/src/billing/webhook.rs): fix the bug, keep the file.

CARGO_FUZZ_VERSION=0.13.2

# Each target: its fuzz crate, its name, its seed corpus.
FUZZ_TARGETS=(
  "orrery-core/fuzz parse_validate examples/graphs"
  "orrery-server/fuzz webhook orrery-server/fuzz/seeds/webhook"
)

# Installs the pinned cargo-fuzz unless it is already there.
fuzz_install() {
  if [[ "$(cargo fuzz --version 2>/dev/null)" == "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    return 0
  fi
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
}

# fuzz_stage OUT_DIR: installs, builds and runs every target; fails on the first problem.
fuzz_stage() {
  local out=$1 seconds=${ORRERY_FUZZ_SECONDS:-60} started=$SECONDS spec crate target seeds
  # No sanitizer: the code is safe Rust, so panics, overflows and hangs are what fuzzing finds,
  # and ASan would double the build. 16 codegen units: the Stripe types are one huge crate.
  local build=(-s none --codegen-units 16 --target-dir "$out")

  fuzz_install
  echo "cargo-fuzz ready after $((SECONDS - started)) s"

  for spec in "${FUZZ_TARGETS[@]}"; do
    read -r crate target seeds <<<"$spec"
    # The fuzz crates are outside the workspace, with lock files of their own. Not `--locked`:
    # a dependency added to orrery-core would otherwise fail CI until these were refreshed; cargo
    # keeps every version already locked and only adds what is new.
    cargo +nightly fuzz build "${build[@]}" --fuzz-dir "$crate" "$target"
  done
  echo "fuzz targets built after $((SECONDS - started)) s"

  local pids=() failed=() log
  for spec in "${FUZZ_TARGETS[@]}"; do
    read -r crate target seeds <<<"$spec"
    mkdir -p "$out/corpus/$target" "$out/logs" "$crate/regressions/$target"
    log="$out/logs/$target.log"
    echo "fuzzing $target for $seconds s (log: $log)"
    cargo +nightly fuzz run "${build[@]}" --fuzz-dir "$crate" "$target" \
      "$out/corpus/$target" "$seeds" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
      -artifact_prefix="$crate/regressions/$target/" -print_final_stats=1 >"$log" 2>&1 &
    pids+=($!)
  done

  local i=0
  for spec in "${FUZZ_TARGETS[@]}"; do
    read -r crate target seeds <<<"$spec"
    log="$out/logs/$target.log"
    if wait "${pids[$i]}"; then
      grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log" | sed "s/^/$target: /"
    else
      tail -n 60 "$log"
      failed+=("$target")
    fi
    i=$((i + 1))
  done
  echo "fuzz stage took $((SECONDS - started)) s"

  if ((${#failed[@]})); then
    echo "fuzzing failed: ${failed[*]}. The input is kept in <crate>/fuzz/regressions/<target>/," >&2
    echo "where cargo test replays it: fix the bug at its root and commit the file." >&2
    return 1
  fi
}
