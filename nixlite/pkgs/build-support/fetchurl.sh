# Builder of fetchurl: tries each URL with curl until one works, then runs postFetch.
source "$stdenv/setup"
downloadedFile="$out"
if [ -n "$downloadToTemp" ]; then downloadedFile="$TMPDIR/file"; fi
eval "extraCurlOpts=($curlOptsList)"
fetched=""
for url in ${urls[*]}; do
    echo "trying $url"
    if curl --location --fail --silent --show-error --retry 3 --connect-timeout 20 \
            --output "$downloadedFile" $curlOpts "${extraCurlOpts[@]}" "$url"; then
        fetched=1
        break
    fi
done
if [ -z "$fetched" ]; then
    echo "error: cannot download $name from any mirror"
    exit 1
fi
if [ -n "$executable" ]; then chmod +x "$downloadedFile"; fi
runHook postFetch
