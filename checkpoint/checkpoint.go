package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/internal/inputfile"
	"github.com/wtacrs/wtacrs/internal/safetensors"
	"github.com/wtacrs/wtacrs/matrix"
	"github.com/wtacrs/wtacrs/model"
)

// Errors returned by this package, wrapped with the file and the tensor or key involved.
var (
	// ErrFormat reports a checkpoint that is malformed: a JSON file that is not valid JSON, of
	// another format version, with an unknown or missing key, a bad precision or vocabulary;
	// a tensor file that is not a valid safetensors file (those errors wrap the sentinels of
	// package safetensors too, ErrTruncated among them); or two files that were not saved
	// together.
	ErrFormat = errors.New("checkpoint: malformed checkpoint")
	// ErrArchitecture reports an architecture of an unknown type, with sizes or options that
	// are not valid, that disagrees with the vocabulary or the tensors of the checkpoint, or
	// with the model given to [Save].
	ErrArchitecture = errors.New("checkpoint: unknown or inconsistent architecture")
	// ErrMissingTensor reports a parameter of the model that the tensor file lacks.
	ErrMissingTensor = errors.New("checkpoint: missing tensor")
	// ErrShape reports a tensor whose shape is not that of the parameter it is loaded into.
	ErrShape = errors.New("checkpoint: tensor shape mismatch")
	// ErrDType reports tensors of another element type than the model's: a float64
	// checkpoint loaded into a float32 model or the reverse (no conversion is ever made).
	ErrDType = errors.New("checkpoint: dtype mismatch")
	// ErrTruncated reports a tensor file shorter than its header says; it is
	// safetensors.ErrTruncated, and such errors wrap ErrFormat too.
	ErrTruncated = safetensors.ErrTruncated
	// ErrInvalid reports a bad argument: an empty path, a nil model, a Meta that does not fit
	// the model, tensors to save that do not match their shapes.
	ErrInvalid = errors.New("checkpoint: invalid argument")
)

// Keys of the tensor file's metadata that tie it to its JSON file.
const (
	metaFormatKey = "wtacrs.format"
	metaSHA256Key = "wtacrs.meta_sha256"
)

// Files returns the two files of the checkpoint path: path is the name without extension or
// with ".safetensors"; tensors is NAME.safetensors and meta NAME.json.
func Files(path string) (tensors, meta string) {
	base := strings.TrimSuffix(path, ".safetensors")
	return base + ".safetensors", base + ".json"
}

// checkPath returns an error for a path that names no checkpoint.
func checkPath(path string) error {
	base := strings.TrimSuffix(path, ".safetensors")
	if base == "" || strings.HasSuffix(base, "/") {
		return fmt.Errorf("%w: checkpoint path %q names no file", ErrInvalid, path)
	}
	return nil
}

// wrapped is an error with the message of its first error that wraps several.
type wrapped []error

func (e wrapped) Error() string   { return e[0].Error() }
func (e wrapped) Unwrap() []error { return e }

// tensorErr wraps an error of package safetensors: errors about the content of the file wrap
// ErrFormat too, bad arguments ErrInvalid; the message is that of err.
func tensorErr(err error) error {
	switch {
	case errors.Is(err, safetensors.ErrFormat):
		return wrapped{err, ErrFormat}
	case errors.Is(err, safetensors.ErrInvalid):
		return wrapped{err, ErrInvalid}
	case errors.Is(err, inputfile.ErrUnreadable):
		return fmt.Errorf("checkpoint: %w", err)
	}
	return err
}

// Save writes the model m and meta as the checkpoint path (see the package documentation),
// each file atomically: NAME.safetensors first, then NAME.json, whose SHA-256 the tensor
// file's metadata records so that a pair of files from different saves is refused when read.
// Empty Format, Precision and a zero Architecture are set from the model; others must agree
// with it: Format must be [Format] (ErrInvalid), Precision that of T (ErrDType), Architecture
// m.Cfg but for the run options of [model.Config.Architecture] (ErrArchitecture). A non-empty Vocab must hold exactly m.Cfg.Vocab
// tokens (ErrArchitecture) and be a valid vocabulary (ErrInvalid). The same model and Meta
// give the same bytes. The parameters are written from the model's storage, without a copy.
// On error no file is left half-written, but when the JSON file fails after the tensor file
// was replaced the pair no longer matches (a later Load says so).
func Save[T matrix.Float](path string, m *model.Model[T], meta Meta) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if m == nil {
		return fmt.Errorf("%w: %s: nil model", ErrInvalid, path)
	}
	tpath, mpath := Files(path)
	meta, err := completeMeta[T](m, meta, mpath)
	if err != nil {
		return err
	}
	text, err := encodeMeta(meta)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, mpath, err)
	}
	tensors := make([]safetensors.Tensor, len(m.Params))
	for i, p := range m.Params {
		if err := p.W.CheckShape(p.Name); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrShape, tpath, err)
		}
		tensors[i] = safetensors.NewTensor(p.Name, []int{p.W.Rows, p.W.Cols}, p.W.Data)
	}
	sum := sha256.Sum256(text)
	link := map[string]string{metaFormatKey: Format, metaSHA256Key: hex.EncodeToString(sum[:])}
	if err := safetensors.Write(tpath, tensors, link); err != nil {
		return tensorErr(err)
	}
	if err := atomicfile.WriteFile(mpath, text); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// completeMeta fills the empty fields of meta from m and checks the others; errors name path.
func completeMeta[T matrix.Float](m *model.Model[T], meta Meta, path string) (Meta, error) {
	switch meta.Format {
	case "":
		meta.Format = Format
	case Format:
	default:
		return meta, fmt.Errorf("%w: %s: format %q (want %q or empty)", ErrInvalid, path, meta.Format, Format)
	}
	switch meta.Precision {
	case "":
		meta.Precision = PrecisionOf[T]()
	case PrecisionOf[T]():
	default:
		return meta, fmt.Errorf("%w: %s: precision %q for a %s model", ErrDType, path, meta.Precision, PrecisionOf[T]())
	}
	if len(meta.Vocab) == 0 {
		meta.Vocab = nil
	}
	cfg := m.Cfg.Architecture()
	arch := meta.Architecture.Architecture()
	switch arch {
	case model.Config{}:
		meta.Architecture = cfg
	case cfg:
		meta.Architecture = cfg
	default:
		return meta, fmt.Errorf("%w: %s: the architecture %+v is not the model's %+v", ErrArchitecture, path, arch, cfg)
	}
	if err := cfg.Validate(); err != nil {
		return meta, fmt.Errorf("%w: %s: %w", ErrArchitecture, path, err)
	}
	if err := checkMeta(meta, path); err != nil {
		if errors.Is(err, ErrFormat) {
			return meta, wrapped{err, ErrInvalid}
		}
		return meta, err
	}
	return meta, nil
}

// opened is a checkpoint whose JSON file has been read and checked and whose tensor file is
// open with its header checked.
type opened struct {
	meta         Meta
	file         *safetensors.File
	tpath, mpath string
}

// open reads the checkpoint path's JSON file, opens its tensor file and checks that the two
// were saved together.
func open(path string) (*opened, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	tpath, mpath := Files(path)
	text, err := inputfile.ReadFile(mpath, MaxMetaBytes)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	meta, err := decodeMeta(text, mpath)
	if err != nil {
		return nil, err
	}
	f, err := safetensors.Open(tpath)
	if err != nil {
		return nil, tensorErr(err)
	}
	md := f.Metadata()
	sum := sha256.Sum256(text)
	switch {
	case md[metaFormatKey] != Format:
		err = fmt.Errorf("%w: %s: the metadata has no %q: %q (a tensor file not written by this package? keep its metadata when you rewrite it)", ErrFormat, tpath, metaFormatKey, Format)
	case md[metaSHA256Key] != hex.EncodeToString(sum[:]):
		err = fmt.Errorf("%w: %s was not saved with %s: its SHA-256 is not the one the tensor file records (edited, or the files of two saves?)", ErrFormat, mpath, tpath)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &opened{meta: meta, file: f, tpath: tpath, mpath: mpath}, nil
}

// ReadMeta reads the JSON file of the checkpoint path and checks it, and the header of its
// tensor file and that the two files were saved together, without reading the tensors.
// Errors are those of [Load].
func ReadMeta(path string) (Meta, error) {
	c, err := open(path)
	if err != nil {
		return Meta{}, err
	}
	c.file.Close()
	return c.meta, nil
}

// Load reads the checkpoint path: it builds the model of its architecture with [model.New]
// and sets every parameter from the tensor of the same name, so that the model is ready to
// use. The tensor file must hold exactly the model's parameters with their shapes, in the
// precision of T. Errors wrap ErrFormat (malformed files, two files not saved together;
// ErrTruncated among them), ErrArchitecture (an unknown architecture type, sizes that are
// not valid, a vocabulary of another size, a tensor the architecture has no parameter for),
// ErrMissingTensor, ErrShape (both shapes named) and ErrDType (a checkpoint of the other
// precision), and name the file; a file that cannot be read gives the error of
// [inputfile.Open] (errors.Is(err, fs.ErrNotExist) reports a missing one).
func Load[T matrix.Float](path string) (*model.Model[T], Meta, error) {
	c, err := open(path)
	if err != nil {
		return nil, Meta{}, err
	}
	defer c.file.Close()
	if err := c.checkPrecision(PrecisionOf[T]()); err != nil {
		return nil, Meta{}, err
	}
	var have float64
	for _, t := range c.file.Header().Tensors {
		have += float64(t.Elements())
	}
	if need := minElements(c.meta.Architecture); need > have {
		return nil, Meta{}, fmt.Errorf("%w: %s: the architecture needs at least %.0f parameters but %s holds %.0f", ErrArchitecture, c.mpath, need, c.tpath, have)
	}
	m, err := model.New[T](c.meta.Architecture, 0)
	if err != nil {
		return nil, Meta{}, fmt.Errorf("%w: %s: %w", ErrArchitecture, c.mpath, err)
	}
	for _, t := range c.file.Header().Tensors {
		if m.Param(t.Name) == nil {
			return nil, Meta{}, fmt.Errorf("%w: %s: tensor %q %v is no parameter of the model that the architecture of %s describes", ErrArchitecture, c.tpath, t.Name, t.Shape, c.mpath)
		}
	}
	if err := fill(c, m, nil, true); err != nil {
		return nil, Meta{}, err
	}
	return m, c.meta, nil
}

// minElements returns a lower bound of the number of parameters of the model of cfg, within a
// small factor of it (the embeddings, the weights of the blocks and of the classification
// head; not the biases, gains and the MLM head): Load checks it against the elements of the
// tensor file before model.New allocates them, so that the sizes of a JSON file cannot make it
// allocate more than a few times what the tensor file holds. It is computed in float64, which
// cannot overflow for sizes that are ints.
func minElements(cfg model.Config) float64 {
	d := float64(cfg.Dim)
	return d*float64(cfg.Vocab+cfg.MaxLen+cfg.Segments+cfg.Classes) + float64(cfg.Blocks)*d*(4*d+2*float64(cfg.FFN))
}

// LoadInto sets the parameters of m from the tensors of the same names of the checkpoint
// path, but for those whose name skip reports (skip may be nil): a model fine-tuned from a
// pretraining checkpoint keeps its own classification head with skip = HasPrefix(name,
// "head."), and the tensors of the file that m has no parameter for (an MLM head) are left
// unread. The architecture of the checkpoint need not be m's, but every parameter not
// skipped must be in the file with its shape and the precision of T. It returns the Meta
// of the checkpoint. All checks are made before any parameter is set: on error m is unchanged
// (unless the tensor file is changed while it is read). Errors are those of [Load], with
// ErrShape naming the tensor's shape in the file and the parameter's.
func LoadInto[T matrix.Float](path string, m *model.Model[T], skip func(name string) bool) (Meta, error) {
	if m == nil {
		return Meta{}, fmt.Errorf("%w: %s: nil model", ErrInvalid, path)
	}
	c, err := open(path)
	if err != nil {
		return Meta{}, err
	}
	defer c.file.Close()
	if err := c.checkPrecision(PrecisionOf[T]()); err != nil {
		return Meta{}, err
	}
	if err := fill(c, m, skip, false); err != nil {
		return Meta{}, err
	}
	return c.meta, nil
}

// checkPrecision returns ErrDType when the checkpoint's precision is not want.
func (c *opened) checkPrecision(want string) error {
	if c.meta.Precision != want {
		return fmt.Errorf("%w: %s is a %s checkpoint, not %s: load it into a %s model (no conversion is made)", ErrDType, c.mpath, c.meta.Precision, want, c.meta.Precision)
	}
	return nil
}

// fill checks every parameter of m that skip does not report against the tensor file, then
// reads them all. When m is the model of the checkpoint's architecture (byArch), a missing
// tensor or a shape mismatch is an inconsistent checkpoint and wraps ErrArchitecture too.
func fill[T matrix.Float](c *opened, m *model.Model[T], skip func(string) bool, byArch bool) error {
	inModel, also := "in the model", []error(nil)
	if byArch {
		inModel, also = "in the model that the architecture of "+c.mpath+" describes", []error{ErrArchitecture}
	}
	want := safetensors.F32
	if PrecisionOf[T]() == PrecisionFloat64 {
		want = safetensors.F64
	}
	var load []*model.Param[T]
	for _, p := range m.Params {
		if skip != nil && skip(p.Name) {
			continue
		}
		t, ok := c.file.Lookup(p.Name)
		switch {
		case !ok:
			return append(wrapped{fmt.Errorf("%w: %s has no tensor %q for the parameter of shape [%d %d] %s", ErrMissingTensor, c.tpath, p.Name, p.W.Rows, p.W.Cols, inModel)}, also...)
		case t.DType != want:
			return fmt.Errorf("%w: %s: tensor %q is %s but the model is %s", ErrDType, c.tpath, p.Name, t.DType, PrecisionOf[T]())
		case len(t.Shape) != 2 || t.Shape[0] != p.W.Rows || t.Shape[1] != p.W.Cols:
			return append(wrapped{fmt.Errorf("%w: %s: tensor %q is %v in the file but [%d %d] %s", ErrShape, c.tpath, p.Name, t.Shape, p.W.Rows, p.W.Cols, inModel)}, also...)
		case len(p.W.Data) != p.W.Rows*p.W.Cols:
			return fmt.Errorf("%w: the model's parameter %q is %dx%d with %d elements", ErrInvalid, p.Name, p.W.Rows, p.W.Cols, len(p.W.Data))
		}
		load = append(load, p)
	}
	for _, p := range load {
		if err := safetensors.ReadInto(c.file, p.Name, p.W.Data); err != nil {
			return tensorErr(err)
		}
	}
	return nil
}
