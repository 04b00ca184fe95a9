# Functions on lists.
{ lib }:

let
  inherit (builtins) head tail length elemAt genList filter foldl' concatMap elem isList
    partition;
in
rec {
  inherit (builtins) head tail length elemAt genList filter foldl' concatMap concatLists elem
    isList any all sort map partition;

  singleton = x: [ x ];
  forEach = xs: f: map f xs;

  foldr = op: nul: list:
    let
      len = length list;
      go = n: if n == len then nul else op (elemAt list n) (go (n + 1));
    in go 0;
  fold = foldr;

  foldl = op: nul: list:
    let go = n: if n == -1 then nul else op (go (n - 1)) (elemAt list n);
    in go (length list - 1);

  imap0 = f: list: genList (n: f n (elemAt list n)) (length list);
  imap1 = f: list: genList (n: f (n + 1) (elemAt list n)) (length list);
  imap = imap1;
  ifilter0 = ipred: input:
    map (idx: elemAt input idx)
      (filter (idx: ipred idx (elemAt input idx)) (range 0 (length input - 1)));

  flatten = x: if isList x then concatMap flatten x else [ x ];
  remove = e: filter (x: x != e);

  findSingle = pred: default: multiple: list:
    let found = filter pred list; n = length found; in
    if n == 0 then default else if n != 1 then multiple else head found;

  # Counts down (-1, -2, …) until the first match, then carries the match's index.
  findFirstIndex = pred: default: list:
    let
      index = foldl' (i: el:
        if i >= 0 then i
        else if pred el then -i - 1
        else i - 1) (-1) list;
    in if index < 0 then default else index;

  findFirst = pred: default: list:
    let index = findFirstIndex pred null list; in
    if index == null then default else elemAt list index;

  count = pred: foldl' (c: x: if pred x then c + 1 else c) 0;

  optional = cond: elem: if cond then [ elem ] else [];
  optionals = cond: elems: if cond then elems else [];
  toList = x: if isList x then x else [ x ];

  range = first: last:
    if first > last then [] else genList (n: first + n) (last - first + 1);
  replicate = n: elem: genList (_: elem) n;

  groupBy = builtins.groupBy or (pred: foldl' (r: e:
    let key = pred e; in r // { ${key} = (r.${key} or []) ++ [ e ]; }) {});
  groupBy' = op: nul: pred: lst: builtins.mapAttrs (name: foldl op nul) (groupBy pred lst);

  zipListsWith = f: fst: snd:
    genList (n: f (elemAt fst n) (elemAt snd n)) (lib.min (length fst) (length snd));
  zipLists = zipListsWith (fst: snd: { inherit fst snd; });

  reverseList = xs: let l = length xs; in genList (n: elemAt xs (l - n - 1)) l;

  # Depth-first search for an element nothing else comes `before`; reports a cycle
  # when asked to.
  listDfs = stopOnCycles: before: list:
    let
      visit = us: visited: rest:
        let
          loops = filter (x: before x us) visited;
          split = partition (x: before x us) rest;
        in
        if stopOnCycles && loops != [] then { cycle = us; inherit loops visited rest; }
        else if split.right == [] then { minimal = us; inherit visited rest; }
        else visit (head split.right) ([ us ] ++ visited) (tail split.right ++ split.wrong);
    in visit (head list) [] (tail list);

  toposort = before: list:
    let
      first = listDfs true before list;
      others = toposort before (first.visited ++ first.rest);
    in
    if length list < 2 then { result = list; }
    else if first ? cycle then {
      cycle = reverseList ([ first.cycle ] ++ first.visited);
      inherit (first) loops;
    }
    else if others ? cycle then others
    else { result = [ first.minimal ] ++ others.result; };

  sortOn = f: list:
    map (pair: elemAt pair 1)
      (builtins.sort (a: b: head a < head b) (map (x: [ (f x) x ]) list));

  compareLists = cmp: a: b:
    if a == [] then (if b == [] then 0 else -1)
    else if b == [] then 1
    else
      let rel = cmp (head a) (head b); in
      if rel == 0 then compareLists cmp (tail a) (tail b) else rel;

  sublist = start: count: list:
    let len = length list; in
    genList (n: elemAt list (n + start))
      (if start >= len then 0 else if start + count > len then len - start else count);
  take = count: sublist 0 count;
  drop = count: list: sublist count (length list) list;

  last = list: assert lib.assertMsg (list != []) "lists.last: list must not be empty!";
    elemAt list (length list - 1);
  init = list: assert lib.assertMsg (list != []) "lists.init: list must not be empty!";
    take (length list - 1) list;

  crossLists = f: foldl (fs: args: concatMap (f: map f args) fs) [ f ];

  unique = foldl' (acc: e: if elem e acc then acc else acc ++ [ e ]) [];
  allUnique = list: length (unique list) == length list;
  intersectLists = e: filter (x: elem x e);
  subtractLists = e: filter (x: !(elem x e));
  mutuallyExclusive = a: b: length a == 0 || !(builtins.any (x: elem x a) b);
}
