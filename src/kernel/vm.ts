// kernel-check against a kernel image: boots it under qemu-system-x86_64 with
// an initramfs made here (busybox, a static build of the kernel helper, the
// scenarios), reads what the helper prints on the serial console, and
// compares each scenario with the simulator set up as that kernel line on
// that guest (the shared zero page, THP madvise).

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import type { ScenarioOp } from "../scenario/parse.js";
import type { ScenarioRecord } from "../scenario/run.js";
import { KERNEL_LINES, type KernelLine, kernelLineOf } from "../system.js";
import { VmalabError } from "../wasm.js";
import { helperInput, KernelCheckError } from "./helper.js";
import { nativeBinary } from "../native.js";

/** busybox-static's binary: a shell and mount in an initramfs with no libraries. */
const BUSYBOX = "/bin/busybox";
const QEMU = "qemu-system-x86_64";
const BEGIN = "@@vmalab-begin ";
const END = "@@vmalab-end ";
const DONE = "@@vmalab-done";

const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /tmp /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t tmpfs tmp /tmp
/bin/busybox mount -t devtmpfs dev /dev
n=0
while [ -e /scenarios/$n ]; do
  echo "${BEGIN}$n"
  /helper < /scenarios/$n
  echo "${END}$n $?"
  n=$((n + 1))
done
echo "${DONE}"
/bin/busybox poweroff -f
`;

/** The kernel line of an image, from its name (vmlinuz-6.12.111+deb12-cloud-amd64: 6.12). */
export function kernelLineOfImage(image: string): KernelLine {
  const line = kernelLineOf(basename(image));
  if (!line) throw new VmalabError("EINVAL", `${image}: cannot tell its kernel line from its name (one of ${KERNEL_LINES.join(", ")}): give --kernel`);
  return line;
}

/** A newc cpio archive of `files` (path -> contents and mode), as the kernel unpacks an initramfs. */
function cpio(files: [string, Buffer, number][]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const entry = (name: string, data: Buffer, mode: number, ino: number) => {
    const hex = (x: number) => x.toString(16).padStart(8, "0");
    const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0];
    const head = Buffer.from(`070701${fields.map(hex).join("")}`, "ascii");
    const nameBuf = Buffer.from(`${name}\0`);
    parts.push(head, nameBuf, pad(head.length + nameBuf.length), data, pad(data.length));
  };
  const dirs = new Set<string>();
  let ino = 1;
  for (const [path] of files) {
    for (let d = path.slice(0, path.lastIndexOf("/")); d; d = d.slice(0, d.lastIndexOf("/"))) dirs.add(d);
  }
  for (const d of [...dirs].sort()) entry(d, Buffer.alloc(0), 0o40755, ino++);
  for (const [path, data, mode] of files) entry(path, data, mode, ino++);
  entry("TRAILER!!!", Buffer.alloc(0), 0, 0);
  return Buffer.concat(parts);
}

/** What one boot needs, checked before it starts: qemu, busybox-static, a C compiler (a clear error names what is missing). */
function tools(image: string): { busybox: Buffer; helper: Buffer } {
  if (!existsSync(image)) throw new VmalabError("ENOENT", `${image}: no such kernel image`);
  const q = spawnSync(QEMU, ["--version"], { encoding: "utf8" });
  if (q.error) throw new KernelCheckError(`kernel-check --kernel-image needs ${QEMU} (Debian: apt-get install qemu-system-x86)`);
  if (!existsSync(BUSYBOX)) throw new KernelCheckError("kernel-check --kernel-image needs a static busybox at /bin/busybox (Debian: apt-get install busybox-static)");
  const helper = readFileSync(nativeBinary("kernel-helper", "kernel-check --kernel-image", true));
  return { busybox: readFileSync(BUSYBOX), helper };
}

/**
 * Runs each scenario on the kernel `image` booted under QEMU (all in one
 * boot); returns each one's records, in the order given. TCG emulation
 * unless VMALAB_VM_ACCEL names another accelerator (kvm: nested KVM may hang).
 */
export function runOnImage(image: string, scenarios: ScenarioOp[][]): ScenarioRecord[][] {
  const t = tools(image);
  const files: [string, Buffer, number][] = [
    ["init", Buffer.from(INIT), 0o100755],
    ["bin/busybox", t.busybox, 0o100755],
    ["helper", t.helper, 0o100755],
    ...scenarios.map((ops, i): [string, Buffer, number] => [`scenarios/${i}`, Buffer.from(helperInput(ops)), 0o100644]),
  ];
  const initrd = join(tmpdir(), `vmalab-initrd-${process.pid}.gz`);
  writeFileSync(initrd, gzipSync(cpio(files)));
  try {
    const accel = process.env.VMALAB_VM_ACCEL ?? "tcg";
    const r = spawnSync(
      QEMU,
      ["-accel", accel, "-m", "1024", "-smp", "1", "-kernel", image, "-initrd", initrd, "-append",
        "console=ttyS0 quiet loglevel=0 transparent_hugepage=madvise panic=-1", "-nographic", "-no-reboot"],
      { encoding: "utf8", maxBuffer: 1 << 30, timeout: (60 + scenarios.length * 10) * 1000, stdio: ["ignore", "pipe", "pipe"] },
    );
    if (r.error) throw new KernelCheckError(`${QEMU} failed: ${r.error.message}`);
    return parseConsole(r.stdout, scenarios.length, image);
  } finally {
    rmSync(initrd, { force: true });
  }
}

/** Each scenario's records from the guest's console, between its markers; a scenario the helper failed on is an error naming it. */
function parseConsole(out: string, count: number, image: string): ScenarioRecord[][] {
  const results: ScenarioRecord[][] = Array.from({ length: count }, () => []);
  let current = -1;
  let done = false;
  for (const raw of out.split("\n")) {
    const line = raw.replace(/\r$/, "");
    const at = line.indexOf("@@vmalab-");
    if (at >= 0) {
      const marker = line.slice(at);
      if (marker.startsWith(BEGIN)) current = Number(marker.slice(BEGIN.length));
      else if (marker.startsWith(END)) {
        const [n, status] = marker.slice(END.length).split(" ").map(Number);
        if (status !== 0) throw new KernelCheckError(`the kernel helper failed (exit ${status}) on scenario ${n} under ${basename(image)}`);
        current = -1;
      } else if (marker === DONE) done = true;
      continue;
    }
    if (current >= 0 && line.startsWith("{")) results[current].push(JSON.parse(line) as ScenarioRecord);
  }
  if (!done) throw new KernelCheckError(`${basename(image)} did not finish the scenarios under QEMU:\n${out.slice(-2000)}`);
  return results;
}
