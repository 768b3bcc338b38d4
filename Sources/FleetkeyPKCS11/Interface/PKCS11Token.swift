import CPKCS11
import Crypto
import FleetkeyCore
import Foundation

/// One token in one slot of a loaded module, shared by everything in the process that uses it.
///
/// PKCS#11 keeps the login state per application and token (v2.40 §5.6: "all sessions of an application with a
/// token have the same login state"), so the token, not each key, owns the session and the login. Every operation
/// runs under the token's lock: it opens a session if there is none, makes sure the user is logged in *with the
/// caller's PIN* (a caller with a wrong PIN must not ride on someone else's login), runs, and maps failures to
/// errors that name the token and never the PIN. A failure is never retried: custody fails closed.
final class PKCS11Token: @unchecked Sendable {
    // @unchecked: the mutable session state is only touched while `lock` is held.
    let module: PKCS11Module
    let slotID: CK_SLOT_ID
    let info: PKCS11TokenInfo
    private let lock = NSLock()
    private var session: CK_SESSION_HANDLE?
    /// A keyed digest of the PIN of the current login, to tell whether a caller's PIN is the one logged in.
    private var loginFingerprint: [UInt8]?

    /// Keys the login fingerprints; made per process and never stored.
    private static let fingerprintKey = SymmetricKey(size: .bits256)

    init(module: PKCS11Module, slotID: CK_SLOT_ID, info: PKCS11TokenInfo) {
        self.module = module
        self.slotID = slotID
        self.info = info
    }

    /// How errors name this token.
    var name: String { "PKCS#11 token '\(info.label)'" }

    /// Runs `body` in a logged-in session. `operation` says, for error messages, what was being done.
    func withSession<Result>(pin: PKCS11PIN, _ operation: String, _ body: (PKCS11Session) throws -> Result) throws
        -> Result
    {
        try lock.withLock {
            do {
                let session = try openSession()
                try logIn(session, pin: pin)
                return try body(session)
            } catch let error as PKCS11CallError {
                if error.meansTokenGone { dropSession() }
                throw describe(error, operation: operation)
            }
        }
    }

    private func openSession() throws -> PKCS11Session {
        if let session { return PKCS11Session(module: module, handle: session) }
        var handle: CK_SESSION_HANDLE = 0
        let open = try module.function(\.C_OpenSession, "C_OpenSession")
        try PKCS11Module.check("C_OpenSession", open(slotID, CKF_SERIAL_SESSION | CKF_RW_SESSION, nil, nil, &handle))
        session = handle
        loginFingerprint = nil
        return PKCS11Session(module: module, handle: handle)
    }

    private func logIn(_ session: PKCS11Session, pin: PKCS11PIN) throws {
        let fingerprint = Array(HMAC<SHA256>.authenticationCode(for: pin.bytes, using: Self.fingerprintKey))
        let state = try session.state()
        let loggedIn = state == CKS_RO_USER_FUNCTIONS || state == CKS_RW_USER_FUNCTIONS
        if loggedIn, loginFingerprint == fingerprint { return }
        if loggedIn { try session.logout() }
        loginFingerprint = nil
        do {
            try session.login(pin)
        } catch let error as PKCS11CallError where error.returnValue == CKR_USER_ALREADY_LOGGED_IN {
            // Logged in by other code in this process with a PIN we cannot see: log out and prove ours.
            try session.logout()
            try session.login(pin)
        }
        loginFingerprint = fingerprint
    }

    private func dropSession() {
        if let session { PKCS11Session(module: module, handle: session).close() }
        session = nil
        loginFingerprint = nil
    }

    /// A PKCS#11 failure in the user's terms: which token, what was being done, what to check.
    private func describe(_ error: PKCS11CallError, operation: String) -> FleetkeyError {
        if error.meansPINRefused {
            if error.returnValue == CKR_PIN_LOCKED {
                return FleetkeyError(
                    .keyAccessDenied,
                    "\(name) has locked its user PIN (CKR_PIN_LOCKED) after too many wrong PINs; its security officer "
                        + "must unlock it. Nothing was signed")
            }
            return FleetkeyError(
                .keyAccessDenied,
                "\(name) refused the PIN (\(error.name)) while trying to \(operation): check FLEETKEY_PKCS11_PIN or "
                    + "the URI's pin-source file. Nothing was signed")
        }
        if error.meansTokenGone {
            return FleetkeyError(
                .custodyUnavailable,
                "\(name) (serial \(info.serial)) is no longer available (\(error.function) returned \(error.name)) "
                    + "while trying to \(operation): it was removed, or deleted, while Fleetkey was running. Nothing "
                    + "was signed and nothing recorded; reinsert the token and run the command again")
        }
        return FleetkeyError(
            .custodyUnavailable,
            "\(name) failed to \(operation): \(error.function) returned \(error.name). Nothing was signed")
    }
}
