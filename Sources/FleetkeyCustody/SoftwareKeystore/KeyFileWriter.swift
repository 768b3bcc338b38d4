import FleetkeyCore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Creates a key file that appears whole or not at all, and never in place of an existing key.
///
/// A check for an existing file followed by a write leaves a window in which two processes both see no key and the
/// second silently replaces the first one's (whose certificate may already be signed); a plain write can also leave
/// a truncated file after a crash. So the file is written under a unique temporary name made with
/// `O_CREAT | O_EXCL` and mode 0600 in the same directory, flushed with fsync(2), and given its final name with
/// link(2), which fails with EEXIST instead of replacing anything (POSIX.1-2017, link()); the temporary name is then
/// unlinked and the directory fsynced, so the new name itself survives a crash.
enum KeyFileWriter {
    static func create(_ contents: Data, at url: URL, label: String) throws {
        let directory = url.deletingLastPathComponent().path
        // Key labels never start with '.', so a temporary name cannot be mistaken for a key (or collide with one).
        let temporary = "\(directory)/.\(url.lastPathComponent).\(Hex.lower(SystemRandomSource().bytes(count: 8))).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw FleetkeyError(.storage, "cannot create a keystore file in \(directory): \(Self.lastError())")
        }
        do {
            defer { close(descriptor) }
            try writeAll(contents, to: descriptor, path: temporary)
            guard fsync(descriptor) == 0 else {
                throw FleetkeyError(.storage, "cannot flush keystore file \(temporary): \(Self.lastError())")
            }
        } catch {
            unlink(temporary)
            throw error
        }
        guard link(temporary, url.path) == 0 else {
            let code = errno
            unlink(temporary)
            if code == EEXIST {
                throw FleetkeyError(
                    .alreadyExists, "keystore already holds a key labelled '\(label)'; refusing to overwrite it")
            }
            throw FleetkeyError(.storage, "cannot write keystore file \(url.path): \(String(cString: strerror(code)))")
        }
        unlink(temporary)
        try syncDirectory(directory)
    }

    private static func writeAll(_ contents: Data, to descriptor: Int32, path: String) throws {
        try contents.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FleetkeyError(.storage, "cannot write keystore file \(path): \(Self.lastError())")
                }
                offset += written
            }
        }
    }

    /// Makes a directory entry created or removed in `path` durable (fsync(2) on the directory itself).
    static func syncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw FleetkeyError(.storage, "cannot open the keystore directory \(path): \(Self.lastError())")
        }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw FleetkeyError(.storage, "cannot flush the keystore directory \(path): \(Self.lastError())")
        }
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }
}
