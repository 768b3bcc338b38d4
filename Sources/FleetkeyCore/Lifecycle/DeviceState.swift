/// Where a device key is in its life (DESIGN.md, "The lifecycle of one device key").
///
/// ```
/// generated ──> provisioned ──> shipped ──> commissioned ──> active <──> suspended
///                                  ^ │                          │
///                            claim │ └────── release ───────────┴──> released   (to another owner)
///                                  └──────────────────────────────── released
///         shipped, commissioned, active, suspended ──> decommissioned   (retired, keys zeroized)
///         every state that is not terminal         ──> revoked
/// ```
/// `revoked` and `decommissioned` are terminal: a key that left service never returns. `released` is not: the
/// device now belongs to another owner, and comes back only by a claim (a transfer back to this owner).
public enum DeviceState: String, Sendable, Codable, Hashable, CaseIterable {
    case generated
    case provisioned
    case shipped
    case commissioned
    case active
    case suspended
    case revoked
    case decommissioned
    /// Handed on to another owner (`fleetkey device release`): its operational identities are revoked here.
    case released

    public var isTerminal: Bool { self == .revoked || self == .decommissioned }
}
