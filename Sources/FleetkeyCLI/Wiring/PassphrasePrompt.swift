import FleetkeyCore
import FleetkeyCustody
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the keystore passphrase comes from: FLEETKEY_PASSPHRASE, else a prompt on the terminal with echo off.
enum PassphraseSource {
    static func obtain(confirm: Bool) throws -> Passphrase {
        if let value = ProcessInfo.processInfo.environment["FLEETKEY_PASSPHRASE"] {
            guard !value.isEmpty else {
                throw FleetkeyError(.keyAccessDenied, "FLEETKEY_PASSPHRASE is set but empty")
            }
            return Passphrase(value)
        }
        guard isatty(STDIN_FILENO) == 1 else {
            throw FleetkeyError(
                .keyAccessDenied,
                "no passphrase: set FLEETKEY_PASSPHRASE, or run on a terminal to be asked for it")
        }
        let first = try prompt("Keystore passphrase: ")
        if confirm {
            guard first.count >= 12 else {
                throw FleetkeyError(.invalidArgument, "the passphrase must have at least 12 characters")
            }
            guard try prompt("Repeat passphrase: ") == first else {
                throw FleetkeyError(.invalidArgument, "the two passphrases differ; nothing was created")
            }
        }
        return Passphrase(first)
    }

    private static func prompt(_ text: String) throws -> String {
        FileHandle.standardError.write(Data(text.utf8))
        var settings = termios()
        tcgetattr(STDIN_FILENO, &settings)
        var silent = settings
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSANOW, &settings)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true) else {
            throw FleetkeyError(.keyAccessDenied, "no passphrase was typed")
        }
        return line
    }
}
