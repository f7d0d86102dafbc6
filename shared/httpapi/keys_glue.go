package httpapi

import "github.com/phiguard/phiguard/shared/phi"

// Ineligibility says why w is not HIPAA eligible — the same sentence the config API shows in
// eligibilityReason — or "" when it is eligible. The key-generation function (shared/keygen)
// uses it to refuse key operations in ineligible workspaces with the reason.
func Ineligibility(w *phi.Workspace) string { return ineligibility(w) }
