import FleetkeyCore
import Foundation

/// ``EnrollmentStore`` on any ``SQLRegistry``.
extension SQLRegistry {
    package func addAuthority(
        _ authority: AuthorityRecord, certificates: [CertificateRecord], keys: [KeyRecord], events: [LifecycleEvent]
    ) async throws {
        try await transaction(
            [.run(RegistrySQL.insert(authority))] + RegistrySQL.insert(keys: keys)
                + certificates.flatMap { RegistrySQL.insert(certificates: [$0]) } + RegistrySQL.append(events, dialect))
    }

    package func enroll(_ unit: EnrollmentUnit) async throws {
        try await transaction(RegistrySQL.enroll(unit, dialect))
    }

    package func append(_ events: [LifecycleEvent]) async throws {
        try await transaction(RegistrySQL.append(events, dialect))
    }
}

extension RegistrySQL {
    /// An enrollment: its key unknown until now when it must be new, the issuance (CA checked first), and the
    /// superseded certificates revoked, each only while still valid.
    package static func enroll(_ unit: EnrollmentUnit, _ dialect: SQLDialect) -> [SQLStep] {
        let issuance = unit.issuance
        var steps = check(issuance.issuer, dialect)
        if unit.requiresNewKey {
            steps.append(
                .run(
                    SQLStatement("SELECT 1 FROM keys WHERE fingerprint = ?", [.text(issuance.key.fingerprint)]),
                    expect: SQLExpectation(rows: 0, otherwise: FleetkeyError.keyCertifiedMeanwhile)))
        }
        steps +=
            insert(keys: [issuance.key]) + (issuance.device.map(apply) ?? [])
            + insert(certificates: [issuance.certificate])
        for old in unit.supersedes {
            steps.append(
                .run(
                    SQLStatement(
                        """
                        UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?
                        WHERE issuer = ? AND serial = ? AND status = 'valid' RETURNING 1
                        """,
                        [
                            .date(
                                RevocationInfo(revokedAt: issuance.certificate.issuedAt, reason: .superseded).revokedAt),
                            .int(RevocationReason.superseded.rawValue), .text(old.issuer), .text(old.serial),
                        ]),
                    expect: SQLExpectation(rows: 1, otherwise: FleetkeyError.revokedMeanwhile)))
        }
        return steps + append(issuance.events, dialect)
    }
}
