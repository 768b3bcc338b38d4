/// Something that happens to a device key; the input of ``DeviceLifecycle``.
public enum DeviceLifecycleEvent: String, Sendable, Hashable, CaseIterable {
    /// The identity certificate was issued and written back; the secure element is locked.
    case provision
    /// The device left the factory in a signed supply-chain manifest.
    case ship
    /// The owner claimed it and verified proof of possession.
    case commission
    /// The owner put it into service.
    case activate
    /// Temporarily out of service (RFC 5280 `certificateHold` semantics without the CRL entry).
    case suspend
    /// Back into service after a suspension.
    case resume
    /// Its certificate was revoked (key compromise, key switch, clone, ...).
    case revoke
    /// Retired for good: revoked as cessationOfOperation and its key zeroized (`fleetkey device retire`).
    case decommission
    /// Handed on to another owner (`fleetkey device release`): its operational identities are revoked as superseded.
    case release
    /// Taken back by this registry from a transfer record (`fleetkey device claim`): shipped to this owner again.
    case claim

    /// The state the event leads to where it is allowed: what a refusal names beside the current state.
    public var target: DeviceState {
        switch self {
        case .provision: .provisioned
        case .ship, .claim: .shipped
        case .commission: .commissioned
        case .activate, .resume: .active
        case .suspend: .suspended
        case .revoke: .revoked
        case .decommission: .decommissioned
        case .release: .released
        }
    }
}

/// The device lifecycle state machine: pure, total, and the only place the transitions are written down.
///
/// Every state change in Fleetkey goes through ``next(from:on:)``; an event that is not allowed from the
/// current state is an error that names both, never a silent no-op.
public struct DeviceLifecycle: Sendable {
    public init() {}

    /// The state a device moves to when `event` happens in `state`.
    public func next(from state: DeviceState, on event: DeviceLifecycleEvent) throws(FleetkeyError) -> DeviceState {
        if let target = Self.transitions[state]?[event] {
            return target
        }
        let allowed = Self.allowedEvents(from: state).map(\.rawValue)
        let hint =
            allowed.isEmpty
            ? "\(state.rawValue) is a final state; nothing can happen to this device any more"
            : "from \(state.rawValue) the allowed events are: \(allowed.joined(separator: ", "))"
        throw FleetkeyError(
            .invalidTransition,
            "cannot \(event.rawValue) a device that is \(state.rawValue) (\(state.rawValue) → \(event.target.rawValue) "
                + "is not a transition): \(hint)"
        )
    }

    /// The events that are allowed from `state`, in a stable order.
    public static func allowedEvents(from state: DeviceState) -> [DeviceLifecycleEvent] {
        DeviceLifecycleEvent.allCases.filter { transitions[state]?[$0] != nil }
    }

    /// What an owner may do with a device it holds: hand it on, retire it, or revoke it.
    private static let held: [DeviceLifecycleEvent: DeviceState] = [
        .revoke: .revoked, .decommission: .decommissioned, .release: .released,
    ]

    /// Revocation is allowed from every state that is not terminal, `generated` included: a device left
    /// half-provisioned by an interrupted factory run holds a certified key too, and nothing may keep a revocation
    /// (of its lot, or of its vendor for cACompromise) from taking effect. A released device belongs to another
    /// owner: this registry can only revoke it, or take it back by a claim.
    private static let transitions: [DeviceState: [DeviceLifecycleEvent: DeviceState]] = [
        .generated: [.provision: .provisioned, .revoke: .revoked],
        .provisioned: [.ship: .shipped, .revoke: .revoked],
        .shipped: held.merging([.commission: .commissioned]) { $1 },
        .commissioned: held.merging([.activate: .active]) { $1 },
        .active: held.merging([.suspend: .suspended]) { $1 },
        .suspended: held.merging([.resume: .active]) { $1 },
        .released: [.claim: .shipped, .revoke: .revoked],
        .revoked: [:],
        .decommissioned: [:],
    ]
}
