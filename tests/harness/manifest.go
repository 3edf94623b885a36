package harness

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// manifestFile is the name of the plugin manifest at the module root.
const manifestFile = ".traefik.yml"

// Manifest is the part of .traefik.yml that Traefik reads for a local
// middleware plugin. The field set and the YAML library (yaml.v3) are the ones
// Traefik v3.6.12 uses in pkg/plugins/types.go and pkg/plugins/manager.go.
type Manifest struct {
	DisplayName   string         `yaml:"displayName"`
	Type          string         `yaml:"type"`
	Runtime       string         `yaml:"runtime"`
	Import        string         `yaml:"import"`
	BasePkg       string         `yaml:"basePkg"`
	Compatibility string         `yaml:"compatibility"`
	Summary       string         `yaml:"summary"`
	UseUnsafe     bool           `yaml:"useUnsafe"`
	IconPath      string         `yaml:"iconPath"`
	TestData      map[string]any `yaml:"testData"`
}

// ReadManifest reads <goPath>/src/<moduleName>/.traefik.yml, as Traefik does
// for local plugins.
func ReadManifest(goPath, moduleName string) (*Manifest, error) {
	p := filepath.Join(goPath, "src", filepath.FromSlash(moduleName), manifestFile)

	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("opening manifest: %w", err)
	}
	defer f.Close()

	m := &Manifest{}
	if err := yaml.NewDecoder(f).Decode(m); err != nil {
		return nil, fmt.Errorf("decoding manifest %s: %w", p, err)
	}

	return m, nil
}

// Check applies the checks Traefik runs on a local middleware plugin's
// manifest before loading it (pkg/plugins/plugins.go, checkLocalPluginManifest),
// reporting every problem at once.
func (m *Manifest) Check(moduleName string) error {
	var errs []error

	if m.Type != "middleware" {
		errs = append(errs, fmt.Errorf("type %q: want middleware", m.Type))
	}

	if m.Runtime != "" && m.Runtime != "yaegi" {
		errs = append(errs, fmt.Errorf("runtime %q: only yaegi is harnessed", m.Runtime))
	}

	if m.Import == "" {
		errs = append(errs, errors.New("import is missing"))
	}

	if !strings.HasPrefix(m.Import, moduleName) {
		errs = append(errs, fmt.Errorf("import %q is not under module %q", m.Import, moduleName))
	}

	if m.DisplayName == "" {
		errs = append(errs, errors.New("displayName is missing"))
	}

	if m.Summary == "" {
		errs = append(errs, errors.New("summary is missing"))
	}

	if m.TestData == nil {
		errs = append(errs, errors.New("testData is missing"))
	}

	if m.UseUnsafe {
		errs = append(errs, errors.New("useUnsafe: Traefik refuses it unless allowed in settings"))
	}

	return errors.Join(errs...)
}

// PackageName is the package whose CreateConfig and New Traefik evaluates:
// basePkg, or the last element of import with "-" replaced by "_".
func (m *Manifest) PackageName() string {
	if m.BasePkg != "" {
		return m.BasePkg
	}

	return strings.ReplaceAll(path.Base(m.Import), "-", "_")
}
