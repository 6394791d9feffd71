import Configuration
import Foundation

/// A setting that is present but unusable; its description is the one line shown at start-up.
public struct SettingsError: Error, CustomStringConvertible, Equatable {
    public var setting: String
    public var environmentVariable: String
    public var problem: String

    public var description: String {
        "invalid setting \(setting) (\(environmentVariable)): \(problem)"
    }
}
