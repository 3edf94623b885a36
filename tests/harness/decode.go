package harness

import (
	"fmt"

	"github.com/mitchellh/mapstructure"
)

// DecodeConfig decodes a dynamic-configuration map into target (a pointer to
// the plugin's config struct, usually the result of CreateConfig) exactly the
// way Traefik v3.6.12 does for Yaegi plugins (pkg/plugins/middlewareyaegi.go,
// yaegiMiddlewareBuilder.createConfig):
//
//   - the same mapstructure revision Traefik pins in its go.mod;
//   - weakly typed input, so "true", "600" and 600.0 all reach bool and int;
//   - one decode hook, splitting a string destined for a slice on ",";
//   - no ErrorUnused: unknown keys are dropped unless the struct has a
//     ",remain" field;
//   - an empty map leaves the defaults untouched and decodes nothing.
//
// Decoding merges into target: defaults already in target survive when the
// map does not mention them, and slices are overwritten element by element.
func DecodeConfig(config map[string]any, target any) error {
	if len(config) == 0 {
		return nil
	}

	dc := &mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToSliceHookFunc(","),
		WeaklyTypedInput: true,
		Result:           target,
	}

	dec, err := mapstructure.NewDecoder(dc)
	if err != nil {
		return fmt.Errorf("creating configuration decoder: %w", err)
	}

	if err := dec.Decode(config); err != nil {
		return fmt.Errorf("decoding configuration: %w", err)
	}

	return nil
}
