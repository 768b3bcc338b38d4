import FleetkeyCore
import Foundation

/// ``AccessStore`` on any ``SQLRegistry``.
extension SQLRegistry {
    package func createGroup(_ group: DeviceGroup, events: [LifecycleEvent]) async throws {
        try await transaction(
            [
                .run(
                    SQLStatement(
                        "INSERT INTO device_groups (name, attributes, created_at) VALUES (?, ?, ?)",
                        [.text(group.name), .text(try Self.attributesJSON(group.attributes)), .date(group.createdAt)],
                        onDuplicate: [
                            .groupName: FleetkeyError(.alreadyExists, "group '\(group.name)' already exists")
                        ]))
            ] + Self.insert(group.selectors, group: group.name) + RegistrySQL.append(events, dialect))
    }

    package func addSelectors(_ selectors: [GroupSelector], toGroup name: String, events: [LifecycleEvent])
        async throws
    {
        try await transaction(
            [
                .run(
                    SQLStatement("SELECT 1 FROM device_groups WHERE name = ?", [.text(name)]),
                    expect: SQLExpectation(
                        rows: 1,
                        otherwise: FleetkeyError(
                            .notFound, "no group '\(name)' in this registry; see `fleetkey group list`")))
            ] + Self.insert(selectors, group: name) + RegistrySQL.append(events, dialect))
    }

    package func groups() async throws -> [DeviceGroup] {
        let selectors = try await fetch(
            SQLStatement("SELECT group_name, kind, vendor, value FROM device_group_selectors ORDER BY group_name")
        ) { raw -> (String, GroupSelector) in
            let row = StoredRow(raw, table: "device_group_selectors", key: ["group_name", "kind", "value"])
            let vendor = try row.text("vendor")
            let value = try row.text("value")
            return (
                try row.text("group_name"),
                try GroupSelector(
                    kind: try row.text("kind"), vendor: vendor.isEmpty ? nil : vendor,
                    value: value.isEmpty ? nil : value)
            )
        }
        let byGroup = Dictionary(grouping: selectors, by: \.0).mapValues { $0.map(\.1) }
        return try await fetch(SQLStatement("SELECT name, attributes, created_at FROM device_groups ORDER BY name")) {
            raw in
            let row = StoredRow(raw, table: "device_groups", key: ["name"])
            let name = try row.text("name")
            let attributes = try row.parse("attributes") { text in
                guard let data = text.data(using: .utf8),
                    let map = try? JSONDecoder().decode([String: String].self, from: data)
                else { throw row.unrecognised("attributes", text, expected: "a JSON object of strings") }
                return map
            }
            return DeviceGroup(
                name: name, attributes: attributes, selectors: byGroup[name] ?? [],
                createdAt: try row.date("created_at"))
        }
    }

    package func setAccessPolicy(_ policy: StoredAccessPolicy, events: [LifecycleEvent]) async throws {
        try await transaction(
            [
                .run(
                    SQLStatement(
                        "INSERT INTO access_policies (digest, document, loaded_at) VALUES (?, ?, ?)",
                        [.text(policy.digest), .blob(policy.document), .date(policy.loadedAt)]))
            ] + RegistrySQL.append(events, dialect))
    }

    package func accessPolicy() async throws -> StoredAccessPolicy? {
        try await fetch(
            SQLStatement(
                "SELECT sequence, digest, document, loaded_at FROM access_policies ORDER BY sequence DESC LIMIT 1")
        ) { raw in
            let row = StoredRow(raw, table: "access_policies", key: ["sequence"])
            return StoredAccessPolicy(
                document: try row.blob("document"), digest: try row.text("digest"), loadedAt: try row.date("loaded_at"))
        }.first
    }

    private static func attributesJSON(_ attributes: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(attributes), as: UTF8.self)
    }

    /// Selectors a group does not have yet (one already there is kept once).
    private static func insert(_ selectors: [GroupSelector], group: String) -> [SQLStep] {
        selectors.map { selector in
            .run(
                SQLStatement(
                    """
                    INSERT INTO device_group_selectors (group_name, kind, vendor, value) VALUES (?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """,
                    [
                        .text(group), .text(selector.kind), .text(selector.vendor?.value ?? ""),
                        .text(selector.value ?? ""),
                    ]))
        }
    }
}
