import Foundation

/// The registry's access-control side: device groups and the owner's access policy.
///
/// Kept apart from ``RegistryStore`` so a store gains it as one capability. Every write is one transaction with
/// its events.
public protocol AccessStore: Sendable {
    /// Records a new, empty-or-not group. Fails with `.alreadyExists` when a group of that name exists.
    func createGroup(_ group: DeviceGroup, events: [LifecycleEvent]) async throws
    /// Adds selectors to a group (those it has already are kept once). Fails with `.notFound` for an unknown group.
    func addSelectors(_ selectors: [GroupSelector], toGroup name: String, events: [LifecycleEvent]) async throws
    /// Every group with its selectors, by name.
    func groups() async throws -> [DeviceGroup]
    /// Makes `policy` the one in force; the earlier ones stay on record.
    func setAccessPolicy(_ policy: StoredAccessPolicy, events: [LifecycleEvent]) async throws
    /// The policy in force, if one was ever loaded.
    func accessPolicy() async throws -> StoredAccessPolicy?
}

/// A policy document as the registry keeps it.
public struct StoredAccessPolicy: Sendable, Hashable {
    public var document: [UInt8]
    public var digest: String
    public var loadedAt: Date

    public init(document: [UInt8], digest: String, loadedAt: Date) {
        self.document = document
        self.digest = digest
        self.loadedAt = loadedAt
    }
}

/// A registry that can decide access: devices, certificates, groups, the policy, and events for denials.
public typealias AccessRegistry = RegistryStore & AccessStore & EnrollmentStore
