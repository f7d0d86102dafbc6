package main

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/phiguard/phiguard/shared/phi"
)

// Keys is the service's one symmetric customer-managed KMS key. It encrypts everything at rest
// (table, queues, topics, log groups) and is the key under which the keygen function generates
// customers' key pairs and HMAC keys, and the config and console functions webhook
// destinations' signing secrets.
//
// Who may call the key directly (not through an AWS service) is fixed by the key policy, not
// only by IAM: after Restrict, an explicit Deny keeps GenerateDataKeyPair* to the keygen roles,
// direct GenerateDataKey* to the keygen roles and the signing-secret generators (these only
// under the signing secrets' encryption context), direct Decrypt to the hashing role (HMAC keys'
// blobs only) and the delivery role (signing secrets' blobs only), and direct Encrypt/ReEncrypt
// to nobody. Calls made by DynamoDB, SQS, SNS, Lambda and Secrets
// Manager on a caller's behalf (kms:ViaService) and by AWS service principals stay allowed; each
// service principal's statement is pinned to this account's resources: CloudWatch Logs by the log
// group in the encryption context, SNS delivering to an encrypted queue by aws:SourceArn
// (AllowSNSDelivery), CloudWatch alarms by aws:SourceAccount and aws:SourceArn (AllowAlarms).
type Keys struct {
	Key awskms.Key
	// Audit is the audit signing key: asymmetric (ECC_NIST_P256, SIGN_VERIFY), so that anyone
	// with its public half can check an audit checkpoint, while only the functions that verify
	// and export the chain may sign (RestrictAuditSigning). Asymmetric keys cannot rotate
	// automatically; its checkpoints stay verifiable for as long as the key is kept (retained).
	Audit awskms.Key

	snsDelivery bool // AllowSNSDelivery has added its statement
}

// NewKeys creates the key with yearly automatic rotation, retained when the stack is deleted.
func NewKeys(scope constructs.Construct, id string) *Keys {
	c := constructs.NewConstruct(scope, jsii.String(id))
	key := awskms.NewKey(c, jsii.String("ServiceKey"), &awskms.KeyProps{
		Description:       jsii.String("phiguard: at-rest encryption and customer key generation"),
		EnableKeyRotation: jsii.Bool(true),
		KeySpec:           awskms.KeySpec_SYMMETRIC_DEFAULT,
		KeyUsage:          awskms.KeyUsage_ENCRYPT_DECRYPT,
		PendingWindow:     awscdk.Duration_Days(jsii.Number(30)),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	auditKey := awskms.NewKey(c, jsii.String("AuditSigningKey"), &awskms.KeyProps{
		Description:   jsii.String("phiguard: signs audit-chain checkpoints (docs/AUDIT.md)"),
		KeySpec:       awskms.KeySpec_ECC_NIST_P256,
		KeyUsage:      awskms.KeyUsage_SIGN_VERIFY,
		PendingWindow: awscdk.Duration_Days(jsii.Number(30)),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	k := &Keys{Key: key, Audit: auditKey}
	k.allowLogs()
	return k
}

// allowLogs lets CloudWatch Logs encrypt this account's log groups with the key, as AWS
// documents for encrypted log groups; the encryption context pins it to this account's groups.
func (k *Keys) allowLogs() {
	k.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudWatchLogs"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs.amazonaws.com"), nil)},
		Actions: jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
			"kms:Describe*"),
		Resources: jsii.Strings("*"), // in a key policy "*" is this key
		Conditions: &map[string]any{
			"ArnLike": map[string]any{
				"kms:EncryptionContext:aws:logs:arn": awscdk.Fn_Join(jsii.String(""), jsii.Strings(
					"arn:", *awscdk.Aws_PARTITION(), ":logs:", *awscdk.Aws_REGION(), ":", *awscdk.Aws_ACCOUNT_ID(), ":log-group:*")),
			},
		},
	}), jsii.Bool(false))
}

// AllowAlarms lets CloudWatch alarms of this account and region publish to topics encrypted with
// the key (the alarm topic): CloudWatch, not the alarm's creator, calls KMS, as its service
// principal. aws:SourceAccount and aws:SourceArn keep another account's alarms from using the key
// through the same principal (the confused deputy).
func (k *Keys) AllowAlarms() {
	k.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudWatchAlarms"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"), // in a key policy "*" is this key
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			"ArnLike": map[string]any{"aws:SourceArn": awscdk.Fn_Join(jsii.String(""), jsii.Strings(
				"arn:", *awscdk.Aws_PARTITION(), ":cloudwatch:", *awscdk.Aws_REGION(), ":", *awscdk.Aws_ACCOUNT_ID(), ":alarm:*"))},
		},
	}), jsii.Bool(false))
}

// AllowSNSDelivery lets SNS deliver from this account's topics to queues encrypted with the key
// (the webhook queue): SNS calls KMS as its service principal for the queue's data key, with the
// topic as aws:SourceArn. The statement names no topic (the fan-out topic is encrypted with this
// key, so naming it here would be a circular dependency), only this account's and region's
// topics. It is added once however many queues subscribe.
func (k *Keys) AllowSNSDelivery() {
	if k.snsDelivery {
		return
	}
	k.snsDelivery = true
	k.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowSNSDeliveryToEncryptedQueues"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("sns.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"), // in a key policy "*" is this key
		Conditions: &map[string]any{
			"ArnLike": map[string]any{"aws:SourceArn": awscdk.Fn_Join(jsii.String(""), jsii.Strings(
				"arn:", *awscdk.Aws_PARTITION(), ":sns:", *awscdk.Aws_REGION(), ":", *awscdk.Aws_ACCOUNT_ID(), ":*"))},
		},
	}), jsii.Bool(false))
}

// GrantKeyGeneration lets grantee generate customer key pairs and HMAC keys under the key, and
// draw random bytes from KMS. GenerateRandom is not a key operation, so AWS requires Resource "*"
// for it (suppressed in nag.go with that reason).
func (k *Keys) GrantKeyGeneration(grantee awsiam.IGrantable) {
	k.Key.Grant(grantee, jsii.String("kms:GenerateDataKeyPair"), jsii.String("kms:GenerateDataKey"))
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("kms:GenerateRandom"),
		ResourceArns: jsii.Strings("*"),
	})
}

// hmacPurpose is the encryption-context entry that every HMAC key blob carries
// (phi.Key.HMACEncryptionContext): the key-generation function generates the blob under it, the
// pipeline decrypts with it, and nothing else is encrypted under it.
var hmacPurpose = struct{ key, value string }{"phiguard:purpose", (&phi.Key{}).HMACEncryptionContext()["phiguard:purpose"]}

// hmacPurposeCondition is the IAM condition key that reads hmacPurpose from a request.
func hmacPurposeCondition() string { return "kms:EncryptionContext:" + hmacPurpose.key }

// signingPurpose is the encryption-context entry of every webhook signing secret's blob
// (phi.SigningEncryptionContext): the config and console functions generate the blob under it,
// the delivery function decrypts with it, and nothing else is encrypted under it.
var signingPurpose = struct{ key, value string }{"phiguard:purpose", phi.SigningEncryptionContext("", "")["phiguard:purpose"]}

// GrantSigningSecretGeneration lets grantee generate webhook signing secrets — data keys under
// the signing secrets' encryption context — and nothing else.
func (k *Keys) GrantSigningSecretGeneration(grantee awsiam.IGrantable) {
	k.grantWithPurpose(grantee, "kms:GenerateDataKey", signingPurpose.value)
}

// GrantSigningSecretDecrypt lets grantee decrypt the webhook signing secrets stored in the
// table, and nothing else: the grant requires their encryption context.
func (k *Keys) GrantSigningSecretDecrypt(grantee awsiam.IGrantable) {
	k.grantWithPurpose(grantee, "kms:Decrypt", signingPurpose.value)
}

func (k *Keys) grantWithPurpose(grantee awsiam.IGrantable, action, purpose string) {
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings(action),
		ResourceArns: jsii.Strings(*k.Key.KeyArn()),
		Conditions: &map[string]*map[string]any{
			"StringEquals": {hmacPurposeCondition(): purpose},
		},
	})
}

// GrantHMACKeyDecrypt lets grantee decrypt the KMS-encrypted HMAC keys stored in the table, and
// nothing else: the grant requires the HMAC keys' encryption context.
func (k *Keys) GrantHMACKeyDecrypt(grantee awsiam.IGrantable) {
	k.grantWithPurpose(grantee, "kms:Decrypt", hmacPurpose.value)
}

// GrantViaService lets grantee use the key only through the named AWS service (e.g. "dynamodb"),
// which is how a caller of an encrypted table needs it; write adds the data-key actions the
// service uses when it writes.
func (k *Keys) GrantViaService(grantee awsiam.IGrantable, service string, write bool) {
	actions := []string{"kms:Decrypt", "kms:DescribeKey"}
	if write {
		actions = append(actions, "kms:Encrypt", "kms:GenerateDataKey")
	}
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings(actions...),
		ResourceArns: jsii.Strings(*k.Key.KeyArn()),
		Conditions: &map[string]*map[string]any{
			"StringEquals": {"kms:ViaService": viaService(service)},
		},
	})
}

// viaServices are the services that use the key on a caller's behalf.
var viaServices = []string{"dynamodb", "sqs", "sns", "lambda", "backup"}

func viaService(service string) *string {
	return awscdk.Fn_Join(jsii.String(""), jsii.Strings(service+".", *awscdk.Aws_REGION(), ".", *awscdk.Aws_URL_SUFFIX()))
}

// KeyUsers are the roles Restrict exempts from the key policy's denies, each for what it does.
type KeyUsers struct {
	// Keygen generate key pairs, HMAC keys and signing secrets (keygen and console).
	Keygen []awsiam.IRole
	// Signers generate signing secrets only (config).
	Signers []awsiam.IRole
	// Hashing decrypts HMAC keys, Delivery signing secrets.
	Hashing, Delivery awsiam.IRole
}

// Restrict adds the key policy's explicit denies; see [Keys].
func (k *Keys) Restrict(u KeyUsers) {
	var services []*string
	for _, s := range viaServices {
		services = append(services, viaService(s))
	}
	arns := func(roles []awsiam.IRole) []*string {
		var out []*string
		for _, r := range roles {
			out = append(out, r.RoleArn())
		}
		return out
	}
	// Direct use only: not through an AWS service, not by an AWS service principal.
	direct := func(allowed ...awsiam.IRole) map[string]any {
		c := map[string]any{
			"StringNotEqualsIfExists": map[string]any{"kms:ViaService": services},
			"BoolIfExists":            map[string]any{"aws:PrincipalIsAWSService": "false"},
		}
		if len(allowed) > 0 {
			c["ArnNotEquals"] = map[string]any{"aws:PrincipalArn": arns(allowed)}
		}
		return c
	}
	// Direct use by these roles of anything but the given purposes.
	onlyFor := func(roles []awsiam.IRole, purposes ...string) map[string]any {
		c := direct()
		if len(roles) > 0 {
			c["ArnEquals"] = map[string]any{"aws:PrincipalArn": arns(roles)}
		}
		c["StringNotEquals"] = map[string]any{hmacPurposeCondition(): purposes}
		if len(purposes) == 1 {
			c["StringNotEquals"] = map[string]any{hmacPurposeCondition(): purposes[0]}
		}
		return c
	}
	deny := func(sid string, actions []string, conditions map[string]any) {
		k.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(sid),
			Effect:     awsiam.Effect_DENY,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings(actions...),
			Resources:  jsii.Strings("*"), // in a key policy "*" is this key
			Conditions: &conditions,
		}), jsii.Bool(false))
	}
	dataKeys := []string{"kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"}
	deny("DenyKeyPairsExceptKeygen", []string{"kms:GenerateDataKeyPair", "kms:GenerateDataKeyPairWithoutPlaintext"},
		map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": arns(u.Keygen)}})
	deny("DenyDirectDataKeysExceptKeygen", dataKeys, direct(append(slices.Clone(u.Keygen), u.Signers...)...))
	if len(u.Signers) > 0 {
		deny("DenySignersDataKeysExceptSigningSecrets", dataKeys, onlyFor(u.Signers, signingPurpose.value))
	}
	deny("DenyDirectDecryptExceptHashing", []string{"kms:Decrypt"}, direct(u.Hashing, u.Delivery))
	deny("DenyDirectDecryptExceptHMACKeys", []string{"kms:Decrypt"}, onlyFor(nil, hmacPurpose.value, signingPurpose.value))
	deny("DenyHashingDecryptExceptHMACKeys", []string{"kms:Decrypt"}, onlyFor([]awsiam.IRole{u.Hashing}, hmacPurpose.value))
	deny("DenyDeliveryDecryptExceptSigningSecrets", []string{"kms:Decrypt"}, onlyFor([]awsiam.IRole{u.Delivery}, signingPurpose.value))
	deny("DenyDirectEncrypt", []string{"kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo"}, direct())
}

// GrantAuditSigning lets grantee sign audit checkpoints with the audit signing key and read its
// public half.
func (k *Keys) GrantAuditSigning(grantee awsiam.IGrantable) {
	k.Audit.Grant(grantee, jsii.String("kms:Sign"), jsii.String("kms:GetPublicKey"))
}

// RestrictAuditSigning adds to the audit signing key's policy an explicit Deny of kms:Sign to
// every principal but signers, so that no other role of the account — whatever IAM grants it —
// can forge a checkpoint.
func (k *Keys) RestrictAuditSigning(signers []awsiam.IRole) {
	var arns []*string
	for _, r := range signers {
		arns = append(arns, r.RoleArn())
	}
	k.Audit.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("DenySigningExceptAuditWriters"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("kms:Sign"),
		Resources:  jsii.Strings("*"), // in a key policy "*" is this key
		Conditions: &map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": arns}},
	}), jsii.Bool(false))
}
