# Run named stages to the end whatever fails, time each, and summarise. Source it, then:
#   stage "task: mocha tests" some_function arg ...
#   finish_stages        # prints the summary; returns 1 when any stage failed
# Each stage runs in a subshell with errexit on, so its first failing command ends that stage only.

STAGE_SUMMARY=()
STAGES_FAILED=0

stage() {
    local name=$1 start=$SECONDS status=0
    shift
    echo
    echo "== $name"
    # Started as a background job so that errexit holds inside: in a `cmd || status=$?` list bash
    # would ignore `set -e` for everything the stage runs.
    ( set -euo pipefail; "$@" ) &
    wait $! || status=$?
    local took=$((SECONDS - start))
    if [ "$status" -eq 0 ]; then
        echo "-- $name: ok in ${took} s"
        STAGE_SUMMARY+=("ok      $(printf '%5d' "$took") s  $name")
    else
        echo "-- $name: FAILED (exit $status) in ${took} s"
        STAGE_SUMMARY+=("FAILED  $(printf '%5d' "$took") s  $name (exit $status)")
        STAGES_FAILED=$((STAGES_FAILED + 1))
    fi
}

finish_stages() {
    echo
    echo "== summary"
    printf '%s\n' "${STAGE_SUMMARY[@]}"
    if [ "$STAGES_FAILED" -gt 0 ]; then
        echo "$STAGES_FAILED stage(s) failed"
        return 1
    fi
}
