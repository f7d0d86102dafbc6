package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

// loadedKey is one private key decrypt was given, with the key id it goes by ("" when unknown:
// the key is then tried on the tokens of its algorithm, and kept for the key id it opens).
type loadedKey struct {
	source string // the file it came from, for messages
	key    *fieldcrypt.PrivateKey
	id     string
	from   string // where the id came from: "FILE:KEYID", "Key-ID line", "JSON id", "--key-list"
}

// savedKey is the part of a REST key response (POST …/keys answers a generated key with its
// privateKey; GET …/keys lists {"items": [...]}) that decrypt reads.
type savedKey struct {
	ID          string `json:"id"`
	Algorithm   string `json:"algorithm"`
	Fingerprint string `json:"fingerprint"`
	PrivateKey  string `json:"privateKey"`
}

// readKeyArg reads one --private-key argument: a key file, a saved REST response holding a
// privateKey, or a directory of them (every regular file in it that holds a private key; public
// keys and other files beside them are skipped). FILE:KEYID names the key id of a single file. A
// path that exists is taken whole, so a file name with a colon still works.
func readKeyArg(arg string) ([]loadedKey, error) {
	path, id := arg, ""
	if _, err := os.Stat(arg); err != nil {
		if i := strings.LastIndexByte(arg, ':'); i > 0 {
			path, id = arg[:i], arg[i+1:]
			if err := fieldcrypt.ValidateKeyID(id); err != nil {
				return nil, usagef("--private-key %s: key id: %s", clip(path), describe(err))
			}
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, unwrapPath(err))
	}
	if !st.IsDir() {
		k, err := readKeyFile(path)
		if err != nil {
			return nil, err
		}
		if id != "" {
			k.id, k.from = id, "FILE:KEYID"
		}
		return []loadedKey{k}, nil
	}
	if id != "" {
		return nil, usagef("--private-key %s:KEYID: a key id names one file, not a directory", clip(path))
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, unwrapPath(err))
	}
	var keys []loadedKey
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		k, err := readKeyFile(filepath.Join(path, e.Name()))
		if err != nil {
			continue // a public key, a README, …: not a private key
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("directory %s holds no private key file", path)
	}
	return keys, nil
}

// readKeyFile reads a private key file (PEM with optional Key-ID lines) or a saved JSON response
// with a privateKey member.
func readKeyFile(path string) (loadedKey, error) {
	data, err := readFile(path)
	if err != nil {
		return loadedKey{}, err
	}
	defer clear(data)
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var sk savedKey
		if err := json.Unmarshal(t, &sk); err != nil || sk.PrivateKey == "" {
			return loadedKey{}, fmt.Errorf("private key %s: a JSON file must be a saved key response with a privateKey member", path)
		}
		pemData := []byte(sk.PrivateKey)
		defer clear(pemData)
		kf, err := fieldcrypt.ParseKeyFile(pemData)
		if err != nil {
			return loadedKey{}, fmt.Errorf("private key %s: %s", path, describe(err))
		}
		if sk.Fingerprint != "" && sk.Fingerprint != kf.Key.Public().Fingerprint() {
			return loadedKey{}, fmt.Errorf("private key %s: its fingerprint member does not match its privateKey", path)
		}
		k := loadedKey{source: path, key: kf.Key, id: kf.KeyID, from: "Key-ID line"}
		if sk.ID != "" {
			if err := fieldcrypt.ValidateKeyID(sk.ID); err != nil {
				return loadedKey{}, fmt.Errorf("private key %s: id: %s", path, describe(err))
			}
			k.id, k.from = sk.ID, "JSON id"
		}
		return k, nil
	}
	kf, err := fieldcrypt.ParseKeyFile(data)
	if err != nil {
		return loadedKey{}, fmt.Errorf("private key %s: %s", path, describe(err))
	}
	return loadedKey{source: path, key: kf.Key, id: kf.KeyID, from: "Key-ID line"}, nil
}

// readKeyList reads a --key-list file — the REST answer of GET …/keys ({"items": [...]}), one key
// object, or an array of them — and returns key ids by fingerprint.
func readKeyList(path string) (map[string]string, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var items []savedKey
	var list struct {
		Items *[]savedKey `json:"items"`
	}
	t := bytes.TrimSpace(data)
	switch {
	case len(t) > 0 && t[0] == '[':
		err = json.Unmarshal(t, &items)
	case json.Unmarshal(t, &list) == nil && list.Items != nil:
		items = *list.Items
	default:
		var one savedKey
		err = json.Unmarshal(t, &one)
		items = []savedKey{one}
	}
	if err != nil {
		return nil, fmt.Errorf("--key-list %s: not a key list (want the JSON of GET …/keys, a key, or an array of keys)", path)
	}
	ids := map[string]string{}
	for _, k := range items {
		if k.ID == "" || k.Fingerprint == "" {
			continue
		}
		if err := fieldcrypt.ValidateKeyID(k.ID); err != nil {
			return nil, fmt.Errorf("--key-list %s: key id: %s", path, describe(err))
		}
		ids[k.Fingerprint] = k.ID
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("--key-list %s lists no key with an id and a fingerprint", path)
	}
	return ids, nil
}

// bindKeys gives keys without an id the id the key list names for their fingerprint, and refuses
// one id for two different keys.
func bindKeys(keys []loadedKey, byFingerprint map[string]string) ([]loadedKey, error) {
	owner := map[string]loadedKey{}
	for i := range keys {
		k := &keys[i]
		if id, ok := byFingerprint[k.key.Public().Fingerprint()]; ok {
			if k.id != "" && k.id != id {
				return nil, usagef("--private-key %s has key id %s (%s), but --key-list gives its fingerprint the id %s", clip(k.source), k.id, k.from, id)
			}
			k.id, k.from = id, "--key-list"
		}
		if k.id == "" {
			continue
		}
		if o, ok := owner[k.id]; ok && o.key.Public().Fingerprint() != k.key.Public().Fingerprint() {
			return nil, usagef("--private-key: key id %s is given for two different keys (%s and %s)", k.id, clip(o.source), clip(k.source))
		}
		owner[k.id] = *k
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].id != "" && keys[j].id == "" })
	return keys, nil
}
