import FleetkeyCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a peer or helper program to completion and returns its exit status with its combined output.
///
/// Spawned with `posix_spawn` and an empty signal mask, every signal at its default action. Foundation's `Process`
/// passes on the mask of the thread that starts it, and in this process (NIO, Dispatch) that mask blocks SIGTERM,
/// SIGALRM, SIGINT and more: a child started that way cannot be stopped with `kill`, `timeout` never fires, and
/// `pgbench -T` never ends. That is what left `openssl ocsp` peers running, orphaned, after earlier runs.
enum Subprocess {
    struct Outcome {
        var status: Int32
        var output: String
    }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Outcome
    {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw FleetkeyError(
                .configuration, "\(executable) is missing: scripts/bench installs what the benchmark needs")
        }
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else {
            throw FleetkeyError(.storage, "cannot make a pipe for \(executable): errno \(errno)")
        }
        // Only the child's stdout and stderr (dup2 clears the flag) may hold the write end, or EOF never comes.
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for variable in envp { free(variable) } }

        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(pipeEnds[1])
        guard spawned == 0 else {
            close(pipeEnds[0])
            throw FleetkeyError(.storage, "cannot start \(executable): error \(spawned)")
        }
        var output = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(pipeEnds[0], &buffer, buffer.count)
            if count > 0 {
                output.append(contentsOf: buffer[0..<count])
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        close(pipeEnds[0])
        var waitStatus: Int32 = 0
        while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import: a signal's death reads as 128 + signal.
        let signal = waitStatus & 0x7F
        let status = signal == 0 ? (waitStatus >> 8) & 0xFF : 128 + signal
        return Outcome(status: status, output: String(decoding: output, as: UTF8.self))
    }
}
