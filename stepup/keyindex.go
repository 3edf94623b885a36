package stepup

import "fmt"

// algKeys are a static key set's candidates for one algorithm, selected
// once by selectKeys: for a token without kid, for each kid a key has, and
// for any other kid.
type algKeys struct {
	alg   algorithm
	noKid []*Key
	byKid map[string][]*Key
	other []*Key
}

// indexStatic selects, for every supported algorithm, the candidates of a
// set of static keys, so that VerifySignature does no selection per token.
// Keys never change in a static set, so the selection does not either.
func indexStatic(keys []*Key) map[string]*algKeys {
	absent := "~" // longer than every kid, hence none of them
	for i := 0; i < len(keys); i++ {
		absent += keys[i].ID
	}
	index := make(map[string]*algKeys, len(algorithms))
	for name, alg := range algorithms {
		index[name] = newAlgKeys(keys, alg, absent)
	}

	return index
}

// newAlgKeys selects the candidates of keys for alg (a constructor, so that
// each algorithm gets its own under Yaegi).
func newAlgKeys(keys []*Key, alg algorithm, absent string) *algKeys {
	a := &algKeys{alg: alg, byKid: make(map[string][]*Key)}
	a.noKid, _ = selectKeys(keys, "", alg)
	a.other, _ = selectKeys(keys, absent, alg)
	for i := 0; i < len(keys); i++ {
		if keys[i].ID != "" {
			candidates, _ := selectKeys(keys, keys[i].ID, alg)
			a.byKid[keys[i].ID] = candidates
		}
	}

	return a
}

// verifyStatic is VerifySignature for a static set when the algorithm is
// allowed and some key is a candidate. handled is false otherwise: the
// caller then selects and reports as for any set.
func verifyStatic(index map[string]*algKeys, jws *JWS, allowed []string) (handled bool, err error) {
	a := index[jws.Header.Alg]
	if a == nil || !allowsAlgorithm(allowed, jws.Header.Alg) {
		return false, nil
	}
	candidates := a.noKid
	if jws.Header.Kid != "" {
		if candidates = a.byKid[jws.Header.Kid]; candidates == nil {
			candidates = a.other
		}
	}
	if len(candidates) == 0 {
		return false, nil
	}
	for i := 0; i < len(candidates); i++ {
		if verifyWithKey(a.alg, candidates[i], jws.SigningInput, jws.Signature) == nil {
			return true, nil
		}
	}

	return true, fmt.Errorf("%s, kid %q: %w", jws.Header.Alg, jws.Header.Kid, ErrSignatureInvalid)
}
