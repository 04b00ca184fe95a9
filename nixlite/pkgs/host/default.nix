# Host packages: derivations that take a tool's files from the host's Debian packages,
# with their shared libraries and ELF interpreter bundled (patchelf), so that the tool
# runs inside an otherwise empty container.
#
# They are impure by design: what they copy is whatever the host has installed. The
# Debian version is in the name (`bash-5.2.15`), and the derivation itself holds nothing
# machine-specific, so two hosts with the same package versions get the same drvPaths.
{ lib, system }:

let
  # /var/lib/dpkg/status as { package = record; }; only the records asked for are parsed.
  status =
    if builtins.pathExists /var/lib/dpkg/status then builtins.readFile /var/lib/dpkg/status
    else throw "nixlite's host packages take the host's Debian packages, but this host has no /var/lib/dpkg/status";
  records = builtins.filter (r: builtins.isString r && r != "") (builtins.split "\n\n" status);
  field = name: record:
    let m = builtins.split "(^|\n)${name}: ([^\n]*)" record; in
    if builtins.length m < 3 then null else builtins.elemAt (builtins.elemAt m 1) 1;
  byName = builtins.listToAttrs (map (r: { name = field "Package" r; value = r; }) records);
  installed = deb: byName ? ${deb} && lib.hasSuffix " installed" (field "Status" byName.${deb});

  # Debian's "1:1.34+dfsg-2+b1" as upstream's "1.34": no epoch, no Debian revision, no
  # repack suffix.
  upstreamVersion = debVersion:
    let
      noEpoch = lib.last (lib.splitString ":" debVersion);
      parts = lib.splitString "-" noEpoch;
      upstream = if builtins.length parts > 1 then lib.concatStringsSep "-" (lib.init parts) else noEpoch;
      repack = builtins.match "(.*)[+~](dfsg|ds)[0-9.]*" upstream;
    in builtins.replaceStrings [ "~" ] [ "-" ] (if repack == null then upstream else builtins.head repack);

  # A host package. `from` lists Debian packages that provide it, best first (a static
  # build before a dynamic one); each says what to copy:
  #   copy: "SOURCE DEST" pairs (DEST under $out); bins: take every program the Debian
  #   package installs into bin/; applets: bin/NAME links for each applet `--list` names.
  hostPackage = { pname, from, mainProgram ? null, description ? "${pname} from the host" }:
    let
      candidates = builtins.filter (c: installed c.deb) from;
      chosen = builtins.head candidates;
      debNames = map (c: c.deb) from;
      missing = throw ("nixlite's host package '${pname}' takes its files from the host, but "
        + (if builtins.length debNames == 1
           then "the Debian package '${builtins.head debNames}' is not installed"
           else "none of the Debian packages ${lib.concatMapStringsSep ", " (d: "'${d}'") debNames} is installed")
        + " (apt-get install ${builtins.head debNames})");
      version = upstreamVersion (field "Version" byName.${chosen.deb});
      drv = derivation {
        name = "${pname}-${version}";
        inherit system;
        builder = "/bin/sh";
        args = [ "-e" ./builder.sh ];
        debianPackage = chosen.deb;
        copy = lib.concatStringsSep "\n" (chosen.copy or []);
        bins = if chosen.bins or false then "1" else "";
        applets = chosen.applets or "";
        preferLocalBuild = true;
        allowSubstitutes = false;
      };
    in
    if candidates == [] then missing
    else drv // {
      inherit pname version;
      meta = {
        inherit description;
        debianPackage = chosen.deb;
        impure = true;
        platforms = lib.platforms.linux;
      } // lib.optionalAttrs (mainProgram != null) { inherit mainProgram; };
    };

  programs = deb: { inherit deb; bins = true; };
in
rec {
  inherit hostPackage upstreamVersion;
  debianPackageInstalled = installed;

  bash = hostPackage {
    pname = "bash";
    mainProgram = "bash";
    from = [
      { deb = "bash-static"; copy = [ "/bin/bash-static bin/bash" "@bash bin/sh" ]; }
      { deb = "bash"; copy = [ "/bin/bash bin/bash" "@bash bin/sh" ]; }
    ];
  };
  bashInteractive = hostPackage {
    pname = "bash-interactive";
    mainProgram = "bash";
    from = [ { deb = "bash"; copy = [ "/bin/bash bin/bash" "@bash bin/sh" ]; } ];
  };
  busybox = hostPackage {
    pname = "busybox";
    mainProgram = "busybox";
    from = [
      { deb = "busybox-static"; copy = [ "/bin/busybox bin/busybox" ]; applets = "busybox"; }
      { deb = "busybox"; copy = [ "/bin/busybox bin/busybox" ]; applets = "busybox"; }
    ];
  };
  coreutils = hostPackage { pname = "coreutils"; from = [ (programs "coreutils") ]; };
  findutils = hostPackage { pname = "findutils"; mainProgram = "find"; from = [ (programs "findutils") ]; };
  gnused = hostPackage { pname = "gnused"; mainProgram = "sed"; from = [ (programs "sed") ]; };
  gnugrep = hostPackage { pname = "gnugrep"; mainProgram = "grep"; from = [ (programs "grep") ]; };
  gnutar = hostPackage { pname = "gnutar"; mainProgram = "tar"; from = [ (programs "tar") ]; };
  gzip = hostPackage { pname = "gzip"; mainProgram = "gzip"; from = [ (programs "gzip") ]; };
  gawk = hostPackage { pname = "gawk"; mainProgram = "gawk"; from = [ (programs "gawk") ]; };
  gnumake = hostPackage { pname = "gnumake"; mainProgram = "make"; from = [ (programs "make") ]; };
  diffutils = hostPackage { pname = "diffutils"; mainProgram = "diff"; from = [ (programs "diffutils") ]; };
  gnupatch = hostPackage { pname = "gnupatch"; mainProgram = "patch"; from = [ (programs "patch") ]; };
  xz = hostPackage { pname = "xz"; mainProgram = "xz"; from = [ (programs "xz-utils") ]; };
  bzip2 = hostPackage { pname = "bzip2"; mainProgram = "bzip2"; from = [ (programs "bzip2") ]; };
  zstd = hostPackage { pname = "zstd"; mainProgram = "zstd"; from = [ (programs "zstd") ]; };
  jq = hostPackage { pname = "jq"; mainProgram = "jq"; from = [ (programs "jq") ]; };
  curl = hostPackage { pname = "curl"; mainProgram = "curl"; from = [ (programs "curl") ]; };
  patchelf = hostPackage { pname = "patchelf"; mainProgram = "patchelf"; from = [ (programs "patchelf") ]; };
  which = hostPackage { pname = "which"; mainProgram = "which"; from = [ { deb = "debianutils"; copy = [ "/usr/bin/which bin/which" ]; } ]; };
  cacert = hostPackage {
    pname = "cacert";
    from = [ {
      deb = "ca-certificates";
      copy = [
        "/etc/ssl/certs/ca-certificates.crt etc/ssl/certs/ca-bundle.crt"
        "@ca-bundle.crt etc/ssl/certs/ca-certificates.crt"
      ];
    } ];
  };
  tzdata = hostPackage {
    pname = "tzdata";
    from = [ { deb = "tzdata"; copy = [ "/usr/share/zoneinfo share/zoneinfo" ]; } ];
  };
  iana-etc = hostPackage {
    pname = "iana-etc";
    from = [ { deb = "netbase"; copy = [ "/etc/services etc/services" "/etc/protocols etc/protocols" ]; } ];
  };
}
