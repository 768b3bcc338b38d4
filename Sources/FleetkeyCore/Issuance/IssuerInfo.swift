import Foundation
import SwiftASN1
import X509

/// What building and linting need to know about an issuing CA, read once from its certificate.
public struct IssuerInfo: Sendable {
    public var authorityID: String
    public var subject: DistinguishedName
    /// The issuer's subjectKeyIdentifier, which becomes the authorityKeyIdentifier of what it issues.
    public var keyIdentifier: [UInt8]
    public var notBefore: Date
    public var notAfter: Date
    /// The directoryName subtrees the issuer's nameConstraints permit (RFC 5280 §4.2.1.10); empty when unconstrained.
    public var permittedSubtrees: [DistinguishedName]

    public init(
        authorityID: String,
        subject: DistinguishedName,
        keyIdentifier: [UInt8],
        notBefore: Date,
        notAfter: Date,
        permittedSubtrees: [DistinguishedName]
    ) {
        self.authorityID = authorityID
        self.subject = subject
        self.keyIdentifier = keyIdentifier
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.permittedSubtrees = permittedSubtrees
    }

    public init(authorityID: String, certificate: Certificate) throws {
        guard let ski = try certificate.extensions.subjectKeyIdentifier else {
            throw FleetkeyError(
                .configuration, "CA certificate of '\(authorityID)' has no subjectKeyIdentifier (RFC 5280 §4.2.1.2)")
        }
        let permitted: [DistinguishedName] =
            try certificate.extensions.nameConstraints?.permittedSubtrees.compactMap {
                if case .directoryName(let name) = $0 { return name }
                return nil
            } ?? []
        self.init(
            authorityID: authorityID,
            subject: certificate.subject,
            keyIdentifier: Array(ski.keyIdentifier),
            notBefore: certificate.notValidBefore,
            notAfter: certificate.notValidAfter,
            permittedSubtrees: permitted
        )
    }

    /// Whether `subject` lies inside the permitted directoryName subtrees: its leading RDNs equal a subtree's
    /// (RFC 5280 §4.2.1.10 and §7.1). An unconstrained issuer permits every subject.
    public func permits(_ subject: DistinguishedName) -> Bool {
        guard !permittedSubtrees.isEmpty else { return true }
        return permittedSubtrees.contains { Self.isWithin(subject, subtree: $0) }
    }

    /// Whether `name` lies in the directoryName subtree rooted at `subtree`: its leading RDNs equal the subtree's
    /// (RFC 5280 §4.2.1.10 and §7.1).
    package static func isWithin(_ name: DistinguishedName, subtree: DistinguishedName) -> Bool {
        let rdns = Array(name)
        let prefix = Array(subtree)
        return prefix.count <= rdns.count && zip(prefix, rdns).allSatisfy { sameRDN($0, $1) }
    }

    /// RDN equality as RFC 5280 §7.1 compares names: same types, values equal after case folding and
    /// whitespace compression, whatever string type encodes them.
    private static func sameRDN(_ a: RelativeDistinguishedName, _ b: RelativeDistinguishedName) -> Bool {
        guard a.count == b.count else { return false }
        return a.allSatisfy { lhs in
            b.contains { rhs in
                lhs.type == rhs.type && normalized(String(lhs.value)) == normalized(String(rhs.value))
            }
        }
    }

    private static func normalized(_ text: String?) -> String? {
        text.map { $0.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ") }
    }
}
