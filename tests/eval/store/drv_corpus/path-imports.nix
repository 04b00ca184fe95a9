let
  sys = "x86_64-linux";
  filtered = builtins.path { path = ./data/tree; name = "filtered-tree"; filter = p: t: baseNameOf p != "skip.tmp"; };
  flat = builtins.path { path = ./data/build.sh; recursive = false; name = "flat.sh"; };
  pinned = builtins.path { path = ./data/tree/a.txt; sha256 = "07alqmiwhqhrccn8qp2jk3vrhvdvcfi0a807hf21ahdkka44i35r"; };
  onlyDirs = builtins.filterSource (p: t: t == "directory" || t == "symlink") ./data/tree;
in derivation {
  name = "imports"; system = sys; builder = ./data/build.sh;
  args = [ ./data/tree "${./data/tree/sub}/c.txt" filtered ];
  srcs = [ flat pinned onlyDirs ./data/tree/sub/exec.sh ];
}
