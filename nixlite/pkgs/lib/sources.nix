# Copying source trees into the store without version-control and build litter.
{ lib }:

rec {
  pathType = path: (builtins.readDir (dirOf path)).${baseNameOf path};
  pathIsDirectory = path: builtins.pathExists path && pathType path == "directory";
  pathIsRegularFile = path: builtins.pathExists path && pathType path == "regular";

  # Leaves out .git (a file in a worktree too)/.svn/.hg/CVS, editor backups, object files and result links.
  cleanSourceFilter = name: type:
    let baseName = baseNameOf (toString name); in
    !((baseName == ".git"
        || type == "directory" && (baseName == ".svn" || baseName == "CVS" || baseName == ".hg"))
      || lib.hasSuffix "~" baseName
      || builtins.match "^\\.sw[a-z]$" baseName != null
      || builtins.match "^\\..*\\.sw[a-z]$" baseName != null
      || lib.hasSuffix ".o" baseName
      || lib.hasSuffix ".so" baseName
      || (type == "symlink" && lib.hasPrefix "result" baseName));

  cleanSourceWith = { src, filter ? _path: _type: true, name ? null }:
    let
      orig = toSourceAttributes src;
      combined = path: type: filter path type && orig.filter path type;
    in fromSourceAttributes {
      inherit (orig) origSrc;
      filter = combined;
      name = if name != null then name else orig.name;
    };

  cleanSource = src: cleanSourceWith { filter = cleanSourceFilter; inherit src; };

  sourceByRegex = src: regexes:
    let
      isFiltered = src ? _isLibCleanSourceWith;
      origSrc = if isFiltered then src.origSrc else src;
    in cleanSourceWith {
      filter = path: type:
        let relPath = lib.removePrefix (toString origSrc + "/") (toString path); in
        lib.any (re: builtins.match re relPath != null) regexes;
      inherit src;
    };

  sourceFilesBySuffices = src: exts:
    cleanSourceWith {
      filter = name: type:
        type == "directory" || lib.any (ext: lib.hasSuffix ext (baseNameOf name)) exts;
      inherit src;
    };

  toSourceAttributes = src:
    if src ? _isLibCleanSourceWith
    then { inherit (src) origSrc filter name; }
    else { origSrc = src; filter = _: _: true; name = "source"; };

  fromSourceAttributes = { origSrc, filter, name }: {
    _isLibCleanSourceWith = true;
    inherit origSrc filter name;
    outPath = builtins.path { inherit filter name; path = origSrc; };
  };
}
