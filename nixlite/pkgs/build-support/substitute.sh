# substitute IN OUT [--replace-fail OLD NEW | --replace-quiet OLD NEW | --subst-var NAME
#                    | --subst-var-by NAME VALUE | --subst-var-by-null NAME]…
# substituteAll IN OUT: @name@ for every environment variable whose name starts lowercase.
substitute() {
    local input="$1" output="$2"
    shift 2
    local content
    content="$(cat "$input"; echo x)"
    content="${content%x}"
    while [ "$#" -gt 0 ]; do
        case "$1" in
            --replace-fail | --replace-warn | --replace-quiet | --replace)
                if [ "$1" = --replace-fail ] && [[ "$content" != *"$2"* ]]; then
                    echo "substitute: pattern '$2' doesn't match anything in file '$input'" >&2
                    return 1
                fi
                content="${content//"$2"/"$3"}"
                shift 3 ;;
            --subst-var)
                if ! [[ "$2" =~ ^[a-zA-Z_][a-zA-Z0-9_]*$ ]]; then
                    echo "substitute: invalid variable name '$2'" >&2
                    return 1
                fi
                if [ -z "${!2+set}" ]; then
                    echo "substitute: variable '$2' is unset" >&2
                    return 1
                fi
                content="${content//"@$2@"/"${!2}"}"
                shift 2 ;;
            --subst-var-by)
                content="${content//"@$2@"/"$3"}"
                shift 3 ;;
            --subst-var-by-null)
                content="${content//"@$2@"/}"
                shift 2 ;;
            *)
                echo "substitute: unknown argument '$1'" >&2
                return 1 ;;
        esac
    done
    local tmp="$output.tmp.$$"
    printf '%s' "$content" > "$tmp"
    if [ -x "$input" ]; then chmod +x "$tmp"; fi
    mv "$tmp" "$output"
}

substituteAll() {
    local input="$1" output="$2" name args=()
    for name in $(compgen -e); do
        if [[ "$name" =~ ^[a-z][a-zA-Z0-9_]*$ ]]; then
            args+=(--subst-var "$name")
        fi
    done
    substitute "$input" "$output" "${args[@]}"
}
