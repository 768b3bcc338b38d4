import FleetkeyCore
import Foundation
import SwiftASN1
import X509

/// The device side of zero-touch onboarding: what a device or gateway links to get, keep and renew its operational
/// identity (LDevID) over EST, with every private key in its secure element.
///
/// Slot 0 of the element holds the factory identity (IDevID) and its certificate; slot 1 holds the operational key,
/// made inside the element on first enrollment, and the LDevID once issued. TLS handshakes and the request's TLS key
/// binding (``TLSKeyBinding``) are signed inside the element. The agent trusts only what it was given: the CA
/// certificates the server's TLS certificate must chain to (``ESTClient``), and the owner's domain CA, which
/// `/cacerts` must return and which must have signed every certificate it accepts.
public struct DeviceAgent: Sendable {
    public static let identitySlot = 0
    public static let operationalSlot = 1

    public let element: any SecureElement
    public let client: ESTClient
    public let domainTrust: [Certificate]
    public let retry: RetryPolicy
    public let renewal: RenewalSchedule
    public let clock: any WallClock
    public let random: any RandomSource

    public init(
        element: any SecureElement, client: ESTClient, domainTrust: [Certificate], retry: RetryPolicy,
        renewal: RenewalSchedule, clock: any WallClock, random: any RandomSource
    ) {
        self.element = element
        self.client = client
        self.domainTrust = domainTrust
        self.retry = retry
        self.renewal = renewal
        self.clock = clock
        self.random = random
    }

    /// The LDevID the element holds, if any.
    public func operationalCertificate() throws -> Certificate? {
        try element.readCertificate(inSlot: Self.operationalSlot)
    }

    /// When the current LDevID should be renewed; `nil` when there is none.
    public func renewalTime() throws -> Date? {
        try operationalCertificate().map {
            renewal.renewalTime(notBefore: $0.notValidBefore, notAfter: $0.notValidAfter, random: random)
        }
    }

    /// What one attempt cost, and what the agent waited between attempts.
    public struct Attempts: Sendable {
        /// Attempts made, the last one included.
        public var count = 0
        /// The errors retried past, in order.
        public var errors: [ESTClientError] = []

        public init() {}
    }

    /// First enrollment with the factory identity, retried as ``retry`` says; stores the LDevID in the element.
    /// `checkingCACertificates`: fetch `/cacerts` first and require the domain CA the device was given (RFC 7030
    /// §4.1.1); a caller that has just done so may skip it.
    @discardableResult
    public func enroll(attempts: inout Attempts, checkingCACertificates: Bool = true) async throws -> Certificate {
        try await retrying(&attempts) { try await enrollOnce(checkingCACertificates: checkingCACertificates) }
    }

    /// `/cacerts` over a TLS session authenticated by the factory identity: a full handshake with a client
    /// certificate signed in the element, and the cheapest answer the server has (the benchmark's reference).
    public func checkCACertificates() async throws {
        guard let factory = try element.readCertificate(inSlot: Self.identitySlot) else {
            throw FleetkeyError(.notFound, "element \(element.elementID) holds no factory identity in slot 0")
        }
        _ = try await client.caCertificates(
            expected: domainTrust,
            identity: .init(certificate: factory, key: try ElementTLSKey(element: element, slot: Self.identitySlot)))
    }

    /// Renewal with the current LDevID (same subject, same key in the element), retried as ``retry`` says.
    @discardableResult
    public func reenroll(attempts: inout Attempts) async throws -> Certificate {
        try await retrying(&attempts) { try await reenrollOnce() }
    }

    /// Runs the device's life: enrolls if it has no LDevID, then renews each one at its renewal time, until the task
    /// is cancelled.
    public func run() async throws {
        if try operationalCertificate() == nil {
            var attempts = Attempts()
            try await enroll(attempts: &attempts)
        }
        while !Task.isCancelled {
            guard let due = try renewalTime() else { break }
            let wait = due.timeIntervalSince(clock.now())
            if wait > 0 { try await Task.sleep(for: .milliseconds(Int64(min(wait, 86_400) * 1000))) }
            guard due <= clock.now() else { continue }
            var attempts = Attempts()
            try await reenroll(attempts: &attempts)
        }
    }

    // MARK: One attempt

    func enrollOnce(checkingCACertificates: Bool) async throws -> Certificate {
        if checkingCACertificates { _ = try await client.caCertificates(expected: domainTrust) }
        guard let factory = try element.readCertificate(inSlot: Self.identitySlot) else {
            throw FleetkeyError(.notFound, "element \(element.elementID) holds no factory identity in slot 0")
        }
        let key = try operationalKey()
        let request = try request(subject: factory.subject, key: key, bindingSlot: Self.identitySlot)
        let certificate = try await client.enroll(
            "simpleenroll", request: request,
            identity: .init(certificate: factory, key: try ElementTLSKey(element: element, slot: Self.identitySlot)))
        try accept(certificate, key: key, subject: factory.subject)
        return certificate
    }

    func reenrollOnce() async throws -> Certificate {
        guard let current = try operationalCertificate() else {
            throw FleetkeyError(.notFound, "element \(element.elementID) holds no operational identity to renew")
        }
        let key = try element.publicKey(inSlot: Self.operationalSlot)
        let request = try request(subject: current.subject, key: key, bindingSlot: Self.operationalSlot)
        let certificate = try await client.enroll(
            "simplereenroll", request: request,
            identity: .init(
                certificate: current, key: try ElementTLSKey(element: element, slot: Self.operationalSlot)))
        try accept(certificate, key: key, subject: current.subject)
        return certificate
    }

    /// The operational key, made in the element the first time.
    func operationalKey() throws -> Certificate.PublicKey {
        switch try element.status(ofSlot: Self.operationalSlot).keyState {
        case .present: try element.publicKey(inSlot: Self.operationalSlot)
        case .empty: try element.generateKey(inSlot: Self.operationalSlot)
        case .zeroized:
            throw FleetkeyError(
                .invalidTransition, "the operational slot of element \(element.elementID) was zeroized: it is retired")
        }
    }

    /// A PKCS#10 request for `key` (in slot 1), signed inside the element, bound to the key of `bindingSlot`.
    func request(subject: DistinguishedName, key: Certificate.PublicKey, bindingSlot: Int) throws -> [UInt8] {
        try RequestBuilder.enrollmentRequest(
            subject: subject, key: try element.signingKey(inSlot: Self.operationalSlot),
            bindingKey: try element.signingKey(inSlot: bindingSlot)
        ).derBytes()
    }

    /// Checks an issued LDevID before keeping it: signed by the domain CA the device trusts, for its own key and
    /// subject, valid now.
    func accept(_ certificate: Certificate, key: Certificate.PublicKey, subject: DistinguishedName) throws {
        guard
            domainTrust.contains(where: {
                $0.subject == certificate.issuer
                    && $0.publicKey.isValidSignature(certificate.signature, for: certificate)
            })
        else {
            throw ESTClientError.untrusted("the issued certificate is not signed by the domain CA this device trusts")
        }
        guard certificate.publicKey == key, certificate.subject == subject else {
            throw ESTClientError.malformedAnswer("the issued certificate is not for this device's key and subject")
        }
        try element.writeCertificate(certificate, toSlot: Self.operationalSlot)
    }

    func retrying(_ attempts: inout Attempts, _ body: () async throws -> Certificate) async throws -> Certificate {
        while true {
            attempts.count += 1
            do {
                return try await body()
            } catch let error as ESTClientError where error.isRetryable && attempts.count < retry.maximumAttempts {
                attempts.errors.append(error)
                let seconds = retry.delay(after: attempts.count, error: error, random: random)
                try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            }
        }
    }
}
