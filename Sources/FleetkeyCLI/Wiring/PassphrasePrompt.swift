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
    /// The shortest passphrase a new keystore accepts, however it is given: scrypt slows each guess, but cannot
    /// make up for a passphrase that is short enough to enumerate.
    static let minimumLength = 12

    /// The passphrase for a keystore: `confirm` when one is being chosen (a new keystore, `init`), which is when the
    /// minimum length applies, to the environment variable as much as to a typed one; opening existing keys takes
    /// whatever they were sealed with.
    static func obtain(confirm: Bool) throws -> Passphrase {
        if let value = ProcessInfo.processInfo.environment["FLEETKEY_PASSPHRASE"] {
            guard !value.isEmpty else {
                throw FleetkeyError(.keyAccessDenied, "FLEETKEY_PASSPHRASE is set but empty")
            }
            if confirm { try checkChosen(value, source: "FLEETKEY_PASSPHRASE") }
            return Passphrase(value)
        }
        guard isatty(STDIN_FILENO) == 1 else {
            throw FleetkeyError(
                .keyAccessDenied,
                "no passphrase: set FLEETKEY_PASSPHRASE, or run on a terminal to be asked for it")
        }
        let first = try prompt("Keystore passphrase: ")
        if confirm {
            try checkChosen(first, source: "the passphrase")
            guard try prompt("Repeat passphrase: ") == first else {
                throw FleetkeyError(.invalidArgument, "the two passphrases differ; nothing was created")
            }
        }
        return Passphrase(first)
    }

    /// The passphrase for a demo ecosystem: FLEETKEY_PASSPHRASE, held to the minimum like any chosen passphrase,
    /// else 24 random bytes in hex (48 characters, well over it), used for this run only. `generated` says which.
    static func forDemo(random: any RandomSource) throws -> (passphrase: Passphrase, generated: String?) {
        if ProcessInfo.processInfo.environment["FLEETKEY_PASSPHRASE"] != nil {
            return (try obtain(confirm: true), nil)
        }
        let generated = Hex.lower(random.bytes(count: 24))
        try checkChosen(generated, source: "the demo's random passphrase")
        return (Passphrase(generated), generated)
    }

    /// Refuses a new passphrase shorter than ``minimumLength`` characters; the error never repeats it.
    static func checkChosen(_ passphrase: String, source: String) throws {
        guard passphrase.count >= minimumLength else {
            throw FleetkeyError(
                .invalidArgument,
                "\(source) must have at least \(minimumLength) characters; nothing was created")
        }
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
