# System doubles ("x86_64-linux") and the platform sets stdenv describes them with.
{ lib }:

let
  cpus = {
    x86_64 = { bits = 64; family = "x86"; config = "x86_64-unknown"; linuxArch = "x86_64"; };
    i686 = { bits = 32; family = "x86"; config = "i686-unknown"; linuxArch = "i386"; };
    aarch64 = { bits = 64; family = "arm"; config = "aarch64-unknown"; linuxArch = "arm64"; };
    armv7l = { bits = 32; family = "arm"; config = "armv7l-unknown"; linuxArch = "arm"; };
    armv6l = { bits = 32; family = "arm"; config = "armv6l-unknown"; linuxArch = "arm"; };
    riscv64 = { bits = 64; family = "riscv"; config = "riscv64-unknown"; linuxArch = "riscv"; };
    powerpc64le = { bits = 64; family = "power"; config = "powerpc64le-unknown"; linuxArch = "powerpc"; };
    s390x = { bits = 64; family = "s390"; config = "s390x-unknown"; linuxArch = "s390"; };
  };
  kernels = {
    linux = { name = "linux"; uname = "Linux"; abi = "gnu"; };
    darwin = { name = "darwin"; uname = "Darwin"; abi = null; };
  };
in
rec {
  doubles = rec {
    linux = [
      "aarch64-linux" "armv5tel-linux" "armv6l-linux" "armv7a-linux" "armv7l-linux"
      "i686-linux" "loongarch64-linux" "m68k-linux" "microblaze-linux" "microblazeel-linux"
      "mips-linux" "mips64-linux" "mips64el-linux" "mipsel-linux" "powerpc64-linux"
      "powerpc64le-linux" "riscv32-linux" "riscv64-linux" "s390-linux" "s390x-linux"
      "x86_64-linux"
    ];
    darwin = [ "x86_64-darwin" "i686-darwin" "aarch64-darwin" "armv7a-darwin" ];
    unix = linux ++ darwin;
    all = unix;
    x86_64 = lib.filter (lib.hasPrefix "x86_64-") all;
    i686 = lib.filter (lib.hasPrefix "i686-") all;
    x86 = x86_64 ++ i686;
    aarch64 = lib.filter (lib.hasPrefix "aarch64-") all;
    arm = lib.filter (lib.hasPrefix "arm") all;
    riscv = lib.filter (lib.hasPrefix "riscv") all;
    mips = lib.filter (lib.hasPrefix "mips") all;
    power = lib.filter (lib.hasPrefix "powerpc") all;
  };

  # What `stdenv.hostPlatform` says about a system double: its parts, autoconf triple
  # and the usual `is…` tests.
  elaborate = systemOrArgs:
    let
      system = if builtins.isString systemOrArgs then systemOrArgs else systemOrArgs.system;
      parts = lib.splitString "-" system;
      cpuName = builtins.head parts;
      kernelName = lib.last parts;
      cpu = cpus.${cpuName} or (throw "nixlite's lib.systems does not know the CPU '${cpuName}' of '${system}'");
      kernel = kernels.${kernelName} or (throw "nixlite's lib.systems does not know the kernel '${kernelName}' of '${system}'");
      isLinux = kernelName == "linux";
      platform = {
        inherit system;
        config = "${cpu.config}-${kernelName}${lib.optionalString (kernel.abi != null) "-${kernel.abi}"}";
        parsed = {
          cpu = { name = cpuName; inherit (cpu) bits family; };
          kernel = { name = kernelName; };
          abi = { name = if kernel.abi != null then kernel.abi else "unknown"; };
        };
        libc = if isLinux then "glibc" else "libSystem";
        linker = if isLinux then "bfd" else "cctools";
        inherit isLinux;
        isDarwin = kernelName == "darwin";
        isUnix = true;
        isx86_64 = cpuName == "x86_64";
        isi686 = cpuName == "i686";
        isx86_32 = cpuName == "i686";
        isx86 = cpu.family == "x86";
        isAarch64 = cpuName == "aarch64";
        isAarch32 = cpu.family == "arm" && cpu.bits == 32;
        isAarch = cpu.family == "arm";
        isRiscV = cpu.family == "riscv";
        isPower = cpu.family == "power";
        isS390 = cpu.family == "s390";
        is64bit = cpu.bits == 64;
        is32bit = cpu.bits == 32;
        isMusl = false;
        isGnu = isLinux;
        isStatic = false;
        isWindows = false;
        uname = { system = kernel.uname; processor = cpuName; release = null; };
        linuxArch = cpu.linuxArch;
        qemuArch = cpuName;
        extensions = {
          sharedLibrary = if isLinux then ".so" else ".dylib";
          executable = "";
          staticLibrary = ".a";
        };
        canExecute = other: other.system == system
          || (cpuName == "x86_64" && other.system == "i686-${kernelName}");
        emulatorAvailable = pkgs: false;
      };
    in platform;

  examples = {};
}
