# Paths of a closure (exportReferencesGraph JSON under .graph), most popular first: a
# path's popularity counts how often and how deep it occurs in the tree expansion of the
# reference graph from its roots; ties go by name (the store hash moved to the end).
# Paths no root reaches come last, sorted.

def lookup: reduce .graph[] as $entry ({};
  .[$entry.path] = ($entry.references | map(select(. != $entry.path)) | unique));

# memo with the contest over $path's children added (and everything below it)
def subtree($lookup; $path):
  if has($path) then .
  else
    reduce $lookup[$path][] as $child (.; subtree($lookup; $child))
    | . as $memo
    | .[$path] = reduce $lookup[$path][] as $child ({};
        .[$child] += 1
        | reduce ($memo[$child] | to_entries[]) as $sub (.; .[$sub.key] += $sub.value + 1))
  end;

def package_name: split("-") | .[1:] + .[:1] | join("-");

lookup as $lookup
| ([$lookup[][]] | unique) as $referenced
| ($lookup | keys | map(select(. as $p | $referenced | index([$p]) | not))) as $roots
| (reduce $roots[] as $root ({}; subtree($lookup; $root))) as $memo
| (reduce $roots[] as $root ({};
    .[$root] += 1
    | reduce ($memo[$root] | to_entries[]) as $sub (.; .[$sub.key] += $sub.value + 1))) as $counts
| ($counts | to_entries | sort_by([-.value, (.key | package_name)]) | map(.key)) as $ordered
| $ordered + (([$lookup | keys[]] + $referenced | unique) - $ordered)
| .[]
