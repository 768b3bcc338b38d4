import FleetkeyCore
import Foundation

/// ``RevocationStore`` on any ``SQLRegistry``.
extension SQLRegistry {
    package func certificateRefs(_ scope: CertificateScope) async throws -> [CertificateRef] {
        try await fetch(RegistrySQL.certificateRefs(scope), RegistryRecords.certificateRef)
    }

    package func revoke(
        _ selection: RevocationSelection, plan: @escaping @Sendable (RevocationSnapshot) throws -> RevocationUnit
    ) async throws -> RevocationUnit {
        let dialect = self.dialect
        let empty = RevocationUnit(
            certificates: [], info: RevocationInfo(revokedAt: .distantPast, reason: .unspecified), devices: [],
            vendor: nil, events: [])
        return try await transaction(returning: empty) { box in
            // The vendor first, locked: issuance under it (which reads it FOR SHARE) waits for this transaction.
            let vendor = SQLStatement(
                "SELECT \(RegistryRecords.vendorColumns) FROM vendors WHERE name = ?" + dialect.lockForUpdate,
                [.text(selection.vendor?.value)])
            let reads = selection.scopes.map(RegistrySQL.certificateRefs)
            return [
                .read(vendor) { vendorRows in
                    let record = try vendorRows.first.map(RegistryRecords.vendor)
                    return try Self.readAll(reads, into: []) { refs in
                        var seen = Set<[String]>()
                        let unique = refs.filter { seen.insert([$0.issuer, $0.serial]).inserted }
                        let unit = try plan(RevocationSnapshot(certificates: unique, vendor: record))
                        box.value = unit
                        return RegistrySQL.apply(unit, dialect)
                    }
                }
            ]
        }
    }

    /// Reads each statement in turn, then hands every row read to `finish`, inside the same transaction.
    private static func readAll(
        _ reads: [SQLStatement], into read: [CertificateRef],
        finish: @escaping @Sendable ([CertificateRef]) throws -> [SQLStep]
    ) throws -> [SQLStep] {
        guard let first = reads.first else { return try finish(read) }
        let rest = Array(reads.dropFirst())
        return [
            .read(first) { rows in
                try readAll(rest, into: read + (try rows.map(RegistryRecords.certificateRef)), finish: finish)
            }
        ]
    }

    package func revokedEntries(issuer: String) async throws -> [ScopedRevokedCertificate] {
        try await fetch(
            SQLStatement(
                """
                SELECT issuer, serial, status, revoked_at, revocation_reason, invalidity_date, crl_partition
                FROM certificates WHERE issuer = ? AND status = 'revoked' ORDER BY serial
                """, [.text(issuer)]),
            RegistryRecords.revokedEntry)
    }

    package func crlScopes(issuer: String, unexpiredAt date: Date) async throws -> [CRLScope] {
        // A loose index scan over certificates_by_crl_scope: one probe per distinct scope, whatever the fleet's size.
        try await fetch(
            SQLStatement(
                """
                WITH RECURSIVE scopes(p) AS (
                    SELECT MIN(crl_partition) FROM certificates WHERE issuer = ? AND crl_partition IS NOT NULL
                    UNION ALL
                    SELECT (SELECT MIN(crl_partition) FROM certificates WHERE issuer = ? AND crl_partition > scopes.p)
                    FROM scopes WHERE scopes.p IS NOT NULL
                )
                SELECT p AS crl_partition FROM scopes WHERE p IS NOT NULL AND EXISTS (
                    SELECT 1 FROM certificates WHERE issuer = ? AND crl_partition = scopes.p AND not_after > ?)
                ORDER BY p
                """, [.text(issuer), .text(issuer), .text(issuer), .date(date)]),
            RegistryRecords.crlScopeValue)
    }

    package func latestCRL(issuer: String, scope: CRLScope) async throws -> PublishedCRL? {
        try await fetch(
            SQLStatement(
                "SELECT \(RegistryRecords.crlColumns) FROM crls WHERE issuer = ? AND partition = ?",
                [.text(issuer), .int(scope.storedValue)]),
            RegistryRecords.publishedCRL
        ).first
    }

    package func publish(_ crl: PublishedCRL) async throws -> Bool {
        let store = SQLStatement(
            """
            INSERT INTO crls (\(RegistryRecords.crlColumns)) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (issuer, partition) DO UPDATE SET number = excluded.number,
                this_update = excluded.this_update, next_update = excluded.next_update, der = excluded.der
            WHERE excluded.number > crls.number
            RETURNING 1
            """,
            [
                .text(crl.issuer), .int(crl.scope.storedValue), .integer(crl.number), .date(crl.thisUpdate),
                .date(crl.nextUpdate), .blob(crl.der),
            ])
        do {
            try await transaction([.run(store, expect: SQLExpectation(rows: 1, otherwise: NothingToWrite()))])
            return true
        } catch is NothingToWrite {
            return false
        }
    }

    package func revocations(after sequence: Int64, limit: Int) async throws -> [RevocationNotice] {
        try await fetch(
            SQLStatement(
                """
                SELECT sequence, subject FROM events WHERE action = ? AND sequence > ? ORDER BY sequence LIMIT ?
                """, [.text(EventAction.certificateRevoked.rawValue), .integer(sequence), .int(max(0, limit))]),
            RegistryRecords.revocationNotice)
    }

    package func lastEventSequence() async throws -> Int64 {
        try await fetch(SQLStatement("SELECT COALESCE(MAX(sequence), 0) AS n FROM events")) {
            try StoredRow($0, table: "events", key: []).integer("n")
        }.first ?? 0
    }

    package func keyRecord(fingerprint: String) async throws -> KeyRecord? {
        try await fetch(
            SQLStatement("SELECT \(RegistryRecords.keyColumns) FROM keys WHERE fingerprint = ?", [.text(fingerprint)]),
            RegistryRecords.key
        ).first
    }
}
