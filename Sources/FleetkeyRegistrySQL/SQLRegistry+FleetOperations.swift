import FleetkeyCore
import Foundation

/// ``FleetOperationsStore`` on any ``SQLRegistry``.
extension SQLRegistry {
    package func expiringCertificates(in window: ClosedRange<Date>, limit: Int?) async throws
        -> [ExpiringCertificate]
    {
        // The not_after index bounds the rows read; each device is found by its unique (serial, vendor) index.
        try await fetch(
            SQLStatement(
                """
                SELECT c.issuer, c.serial, c.profile, c.subject, c.not_before, c.not_after, c.device_vendor,
                    c.device_serial, d.lot, d.owner
                FROM certificates c LEFT JOIN devices d ON d.serial = c.device_serial AND d.vendor = c.device_vendor
                WHERE c.not_after >= ? AND c.not_after <= ? AND c.status = 'valid'
                ORDER BY c.not_after, c.issuer, c.serial
                """ + (limit.map { " LIMIT \(max(0, $0))" } ?? ""),
                [.date(window.lowerBound), .date(window.upperBound)])
        ) { raw in
            let row = StoredRow(raw, table: "certificates", key: ["issuer", "serial"])
            let vendor = try row.optionalText("device_vendor")
            let serial = try row.optionalText("device_serial")
            let device: DeviceID? =
                if let vendor, let serial {
                    try row.parse("device_serial") { _ in
                        DeviceID(vendor: try VendorName(vendor), serial: try DeviceSerial(serial))
                    }
                } else { nil }
            return ExpiringCertificate(
                issuer: try row.text("issuer"), serial: try row.text("serial"), profile: try row.text("profile"),
                subject: try row.text("subject"), notBefore: try row.date("not_before"),
                notAfter: try row.date("not_after"), device: device, lot: try row.optionalText("lot"),
                owner: try row.optionalText("owner"))
        }
    }

    package func validCertificateCount(issuer: String, notAfterAtOrAfter date: Date) async throws -> Int {
        // Counted in the partial index certificates_valid_by_issuer_expiry, not the table.
        try await fetch(
            SQLStatement(
                "SELECT COUNT(*) AS n FROM certificates WHERE issuer = ? AND status = 'valid' AND not_after >= ?",
                [.text(issuer), .date(date)])
        ) { try StoredRow($0, table: "certificates", key: []).int("n") }.first ?? 0
    }

    package func enqueue(_ deliveries: [WebhookDelivery]) async throws -> Int {
        try await transaction(returning: 0) { box in
            deliveries.map { delivery in
                .read(
                    SQLStatement(
                        """
                        INSERT INTO webhook_deliveries (idempotency_key, endpoint, body, state, attempts,
                            next_attempt_at, last_error, created_at, delivered_at)
                        VALUES (?, ?, ?, 'pending', 0, ?, NULL, ?, NULL) ON CONFLICT DO NOTHING RETURNING 1
                        """,
                        [
                            .text(delivery.idempotencyKey), .text(delivery.endpoint), .blob(delivery.body),
                            .date(delivery.nextAttemptAt), .date(delivery.createdAt),
                        ])
                ) { rows in
                    box.value += rows.count
                    return []
                }
            }
        }
    }

    package func dueDeliveries(at date: Date, limit: Int) async throws -> [WebhookDelivery] {
        try await fetch(
            SQLStatement(
                "SELECT \(RegistrySQL.deliveryColumns) FROM webhook_deliveries WHERE state = 'pending' "
                    + "AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT \(max(1, limit))", [.date(date)]),
            RegistrySQL.delivery)
    }

    package func recordAttempt(_ key: String, outcome: WebhookDelivery.Attempt) async throws {
        let statement: SQLStatement =
            switch outcome {
            case .delivered(let at):
                SQLStatement(
                    """
                    UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = ?,
                        last_error = NULL
                    WHERE idempotency_key = ? AND state = 'pending' RETURNING 1
                    """, [.date(at), .text(key)])
            case .failed(_, let error, let retryAt):
                SQLStatement(
                    """
                    UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
                    WHERE idempotency_key = ? AND state = 'pending' RETURNING 1
                    """, [.text(String(error.prefix(500))), .date(retryAt), .text(key)])
            }
        try await transaction([
            .run(
                statement,
                expect: SQLExpectation(
                    rows: 1, otherwise: FleetkeyError(.conflict, "webhook delivery \(key) is not pending any more")))
        ])
    }

    package func deliveries(limit: Int) async throws -> [WebhookDelivery] {
        try await fetch(
            SQLStatement(
                "SELECT \(RegistrySQL.deliveryColumns) FROM webhook_deliveries ORDER BY created_at, idempotency_key "
                    + "LIMIT \(max(1, limit))"), RegistrySQL.delivery)
    }
}

extension RegistrySQL {
    static let deliveryColumns =
        "idempotency_key, endpoint, body, state, attempts, next_attempt_at, last_error, created_at, delivered_at"

    static func delivery(_ raw: any RegistryRow) throws -> WebhookDelivery {
        let row = StoredRow(raw, table: "webhook_deliveries", key: ["idempotency_key"])
        return WebhookDelivery(
            idempotencyKey: try row.text("idempotency_key"), endpoint: try row.text("endpoint"),
            body: try row.blob("body"), state: try row.enumeration(WebhookDelivery.State.self, "state"),
            attempts: try row.int("attempts"), nextAttemptAt: try row.date("next_attempt_at"),
            lastError: try row.optionalText("last_error"), createdAt: try row.date("created_at"),
            deliveredAt: try row.optionalDate("delivered_at"))
    }
}
