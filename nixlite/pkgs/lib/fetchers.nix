# What fetchers share.
{ lib }:

{
  # Proxy settings a fixed-output fetcher takes from the caller's environment.
  proxyImpureEnvVars = [
    "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy"
    "HTTP_PROXY" "HTTPS_PROXY" "FTP_PROXY" "ALL_PROXY" "NO_PROXY"
  ];
}
