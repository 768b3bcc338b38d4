import Foundation

/// Peak resident memory of this process, per workload.
///
/// Linux keeps the high-water mark in /proc/self/status (VmHWM); writing "5" to /proc/self/clear_refs resets
/// it (proc(5)), so each workload reports its own peak rather than the largest one so far.
enum PeakMemory {
    static func reset() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// VmHWM in MiB, or 0 where /proc is not available.
    static func peakMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kib = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kib / 1024
        }
        return 0
    }
}
