package kubectlsignet

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// maxTokenBytes caps what inspect and --decode parse, before any decoding
// (a Signet access token is well under 2 KiB).
const maxTokenBytes = 16 << 10

// jwtParts are a JWT's decoded header and claims.
type jwtParts struct {
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

// decodeJWT decodes a compact JWS without verifying it. It checks the size
// and the number of dots before decoding anything.
func decodeJWT(raw string) (*jwtParts, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > maxTokenBytes {
		return nil, fmt.Errorf("the token is %d bytes, more than the %d this command reads", len(raw), maxTokenBytes)
	}
	if strings.Count(raw, ".") != 2 {
		return nil, errors.New("a JWT has three dot-separated parts (header.claims.signature)")
	}
	segs := strings.SplitN(raw, ".", 3)
	p := &jwtParts{}
	for i, dst := range []*map[string]any{&p.Header, &p.Claims} {
		data, err := base64.RawURLEncoding.DecodeString(segs[i])
		if err != nil {
			return nil, fmt.Errorf("the JWT's %s is not base64url: %w", []string{"header", "claims"}[i], err)
		}
		if err := json.Unmarshal(data, dst); err != nil {
			return nil, fmt.Errorf("the JWT's %s is not a JSON object: %w", []string{"header", "claims"}[i], err)
		}
	}
	return p, nil
}
