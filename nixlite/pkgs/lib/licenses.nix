# A few licenses by their SPDX identifiers, for `meta.license`.
let
  license = spdxId: fullName: free: {
    inherit spdxId fullName free;
    shortName = spdxId;
    url = "https://spdx.org/licenses/${spdxId}.html";
    deprecated = false;
    redistributable = free;
  };
in
{
  agpl3Only = license "AGPL-3.0-only" "GNU Affero General Public License v3.0 only" true;
  agpl3Plus = license "AGPL-3.0-or-later" "GNU Affero General Public License v3.0 or later" true;
  asl20 = license "Apache-2.0" "Apache License 2.0" true;
  bsd2 = license "BSD-2-Clause" ''BSD 2-clause "Simplified" License'' true;
  bsd3 = license "BSD-3-Clause" ''BSD 3-clause "New" or "Revised" License'' true;
  bsl11 = license "BUSL-1.1" "Business Source License 1.1" false;
  cc0 = license "CC0-1.0" "Creative Commons Zero v1.0 Universal" true;
  gpl2Only = license "GPL-2.0-only" "GNU General Public License v2.0 only" true;
  gpl2Plus = license "GPL-2.0-or-later" "GNU General Public License v2.0 or later" true;
  gpl3Only = license "GPL-3.0-only" "GNU General Public License v3.0 only" true;
  gpl3Plus = license "GPL-3.0-or-later" "GNU General Public License v3.0 or later" true;
  isc = license "ISC" "ISC License" true;
  lgpl21Only = license "LGPL-2.1-only" "GNU Lesser General Public License v2.1 only" true;
  lgpl21Plus = license "LGPL-2.1-or-later" "GNU Lesser General Public License v2.1 or later" true;
  lgpl3Only = license "LGPL-3.0-only" "GNU Lesser General Public License v3.0 only" true;
  mit = license "MIT" "MIT License" true;
  mpl20 = license "MPL-2.0" "Mozilla Public License 2.0" true;
  publicDomain = { fullName = "Public Domain"; shortName = "publicDomain"; free = true; deprecated = false; redistributable = true; };
  unfree = { fullName = "Unfree"; shortName = "unfree"; free = false; deprecated = false; redistributable = false; };
  zlib = license "Zlib" "zlib License" true;
}
