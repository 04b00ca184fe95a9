# makeWrapper EXECUTABLE WRAPPER [--argv0 NAME] [--set VAR VALUE] [--set-default VAR VALUE]
#   [--unset VAR] [--prefix VAR SEP VALUE] [--suffix VAR SEP VALUE] [--run COMMAND]
#   [--add-flags FLAGS] [--append-flags FLAGS] [--chdir DIR]
# wrapProgram PROGRAM [same options]: moves PROGRAM to .NAME-wrapped and wraps it.
# The wrapper is a script for the stdenv's bash (@shell@).
makeWrapper() {
    local original="$1" wrapper="$2"
    shift 2
    if [ ! -x "$original" ]; then
        echo "makeWrapper: '$original' does not exist or is not executable" >&2
        return 1
    fi
    local argv0="" flagsBefore="" flagsAfter="" lines=()
    while [ "$#" -gt 0 ]; do
        case "$1" in
            --argv0) argv0="$2"; shift 2 ;;
            --inherit-argv0) argv0='$0'; shift ;;
            --set) lines+=("export $2=$(printf '%q' "$3")"); shift 3 ;;
            --set-default) lines+=("export $2=\${$2-$(printf '%q' "$3")}"); shift 3 ;;
            --unset) lines+=("unset $2"); shift 2 ;;
            --prefix | --suffix)
                local var="$2" sep="$3" value
                value="$(printf '%q' "$4")"
                if [ "$1" = --prefix ]; then
                    lines+=("$var=$value\${$var:+$(printf '%q' "$sep")}\$$var" "export $var")
                else
                    lines+=("$var=\$$var\${$var:+$(printf '%q' "$sep")}$value" "export $var")
                fi
                shift 4 ;;
            --run) lines+=("$2"); shift 2 ;;
            --chdir) lines+=("cd $(printf '%q' "$2")"); shift 2 ;;
            --add-flags) flagsBefore="$flagsBefore $2"; shift 2 ;;
            --append-flags) flagsAfter="$flagsAfter $2"; shift 2 ;;
            *) echo "makeWrapper: unknown argument '$1'" >&2; return 1 ;;
        esac
    done
    mkdir -p "$(dirname "$wrapper")"
    {
        printf '#! @shell@ -e\n'
        local line
        for line in "${lines[@]}"; do printf '%s\n' "$line"; done
        if [ -n "$argv0" ]; then
            printf 'exec -a "%s" %q%s "$@"%s\n' "$argv0" "$original" "$flagsBefore" "$flagsAfter"
        else
            printf 'exec %q%s "$@"%s\n' "$original" "$flagsBefore" "$flagsAfter"
        fi
    } > "$wrapper"
    chmod +x "$wrapper"
}

wrapProgram() {
    local program="$1"
    shift
    local hidden
    hidden="$(dirname "$program")/.$(basename "$program")-wrapped"
    mv "$program" "$hidden"
    makeWrapper "$hidden" "$program" --inherit-argv0 "$@"
}
