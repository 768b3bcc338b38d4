import Foundation
import X509

/// When a delegated OCSP responder certificate is renewed, so that a vendor's OCSP never goes dark when the
/// year-long certificate `fleetkey vendor add` issued runs out.
///
/// RFC 6960 §4.2.2.2: the responder certificate is issued by the CA it answers for and must be valid when it signs
/// (relying parties check it, and id-pkix-ocsp-nocheck means they check nothing else). Renewal is due once less
/// than a quarter of its lifetime remains (about three months for the `ocsp-responder` profile's year), long
/// enough for a server that was down a while to renew before its answers stop verifying.
public enum OCSPResponderRenewal {
    /// The share of a responder certificate's lifetime left when it is renewed.
    public static let renewalShare = 0.25

    /// Whether `certificate` should be replaced at `now`: expired, not yet valid, or within its last quarter.
    public static func isDue(_ certificate: Certificate, at now: Date) -> Bool {
        let lifetime = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore)
        guard certificate.notValidBefore <= now, now < certificate.notValidAfter else { return true }
        return certificate.notValidAfter.timeIntervalSince(now) < lifetime * renewalShare
    }
}

extension Ecosystem {
    /// Issues a new delegated OCSP responder certificate for a vendor's CA: a new key in ``custody``, the
    /// `ocsp-responder` profile (id-kp-OCSPSigning, id-pkix-ocsp-nocheck), linted before signing and recorded in the
    /// registry, with its `certificate.issued` event, before it is returned for use.
    ///
    /// Refused for a vendor that is not active (its CA is revoked: there is nothing left to answer for). The key is
    /// destroyed again if nothing could be recorded.
    public func issueOCSPResponder(by authority: CertificateAuthority) async throws
        -> (certificate: Certificate, key: Certificate.PrivateKey)
    {
        guard let vendorName = authority.vendorName, let vendor = try await store.vendor(named: vendorName) else {
            throw FleetkeyError(
                .invalidArgument, "'\(authority.id)' is not a vendor CA: only vendor CAs have delegated OCSP responders"
            )
        }
        guard vendor.state == .active else {
            throw FleetkeyError(
                .invalidTransition,
                "vendor '\(vendorName)' is \(vendor.state.rawValue): its OCSP responder is not renewed")
        }
        let profile = CertificateProfile.Name.ocspResponder
        let now = clock.now()
        // A label of its own per renewal; the random part keeps two servers renewing at once apart.
        let label = "\(authority.id)-\(profile)-\(Hex.lower(Array(serials.next().bytes.prefix(8))))"
        let key = try await custody.generateKey(authority.keySpec, label: label)
        do {
            let signingKey = try await custody.signingKey(key.reference)
            let keyRecord = try keyRecord(key.publicKey, custody: custody.kind, location: key.reference, now: now)
            for attempt in 1...Self.serialAttempts {
                let issued = try delegated(
                    profile, role: "OCSP Responder", vendor: vendorName, key: key, by: authority, now: now)
                let record = try certificateRecord(
                    issued.certificate, draft: issued.draft, issuer: authority.id, key: keyRecord, device: nil, now: now
                )
                do {
                    try await store.record(
                        IssuanceUnit(
                            issuer: authority.issuing, certificate: record, key: keyRecord, device: nil,
                            events: [
                                event(
                                    .certificateIssued,
                                    subject: .certificate(issuer: authority.id, serial: record.serial),
                                    detail: ["profile": profile, "vendor": vendorName.value, "renewal": "true"])
                            ]))
                    return (issued.certificate, signingKey)
                } catch is DuplicateSerialError where attempt < Self.serialAttempts {
                    continue
                }
            }
            throw FleetkeyError(.storage, "could not draw a unique serial number in \(Self.serialAttempts) attempts")
        } catch {
            try? await custody.destroyKey(key.reference)
            throw error
        }
    }
}
