// Command go-types writes crates/berth-api/src/go-types.json: how Go's encoding/json writes
// moby's API response types, so that berthd's answers (serde models whose unset fields are
// skipped) get the fields dockerd always sends (with their zero value) and lose the `omitempty`
// fields dockerd leaves out when empty.
//
// Source: moby's api/types, as shipped in the Go module
// github.com/docker/docker@v27.3.1+incompatible (moby tag v27.3.1, whose API is 1.47):
//
//	go mod download -json github.com/docker/docker@v27.3.1+incompatible    # prints "Dir"
//	go run scripts/go-types/main.go <Dir>/api/types > crates/berth-api/src/go-types.json
//
// It reads the Go source (go/parser, standard library only) rather than reflecting over the
// types, so it needs none of moby's dependencies. The output lists, for each struct reachable
// from the response types below, its JSON fields in order: name, whether the tag says
// omitempty, and the type, written as
//
//	s string   n number   b bool   t time.Time   a anything (interface, custom MarshalJSON)
//	*X pointer   []X slice   [N]X array   {}X map with values X   T:pkg.Name struct
//
// It is not run by the tests, only to refresh the file.
package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The response bodies berthd renders from models.
var roots = []string{
	"types.ContainerJSON", "types.Container", "types.ImageInspect", "image.Summary",
	"image.DeleteResponse", "image.PruneReport", "types.BuildCachePruneReport",
	"container.PruneReport", "volume.PruneReport", "network.PruneReport",
	"system.Info", "types.Version", "types.DiskUsage", "volume.Volume", "volume.ListResponse",
	"network.Inspect", "network.Summary", "network.CreateResponse", "container.StatsResponse",
	"backend.ExecInspect", "container.WaitResponse", "container.ContainerUpdateOKBody",
	"container.CreateResponse", "container.ContainerTopOKBody", "types.IDResponse",
	"image.HistoryResponseItem", "container.FilesystemChange", "registry.AuthenticateOKBody",
	"container.ExecCreateResponse", "types.ExecCreateResponse", "container.UpdateResponse",
	"container.TopResponse", "types.ContainerPathStat", "container.PathStat",
}

// Types from outside api/types that the response types use.
var external = map[string]string{
	"nat.PortMap": "{}[]a", "nat.PortSet": "{}a", "nat.Port": "s",
	"digest.Digest": "s", "time.Time": "t", "time.Duration": "n", "os.FileMode": "n",
	"json.RawMessage": "a", "units.Ulimit": "a", "ocispec.Platform": "a",
	"ocispec.Descriptor": "a", "v1.Platform": "a", "v1.Descriptor": "a", "netip.Addr": "s",
	"netip.Prefix": "s",
}

type field struct {
	Name      string `json:"name"`
	OmitEmpty bool   `json:"omitempty"`
	Type      string `json:"type"`
	// dockerd 20.10 (API 1.41) had no omitempty on this field: it is sent even when empty
	// before this API version.
	SentBefore string `json:"sent_before,omitempty"`
}

// Where dockerd 20.10's types differ from v27's: fields it always sent, until the API version
// whose swagger dropped them ("" for every version: berth keeps 20.10's shape where no
// swagger says otherwise).
var dockerd2010 = map[string]string{
	"container.Resources.KernelMemory":                               "1.42",
	"container.Resources.KernelMemoryTCP":                            "",
	"system.Info.KernelMemory":                                       "1.42",
	"system.Info.KernelMemoryTCP":                                    "",
	"types.ImageInspect.Container":                                   "1.45",
	"types.ImageInspect.ContainerConfig":                             "1.45",
	"types.ImageInspect.VirtualSize":                                 "1.44",
	"image.Summary.VirtualSize":                                      "1.44",
	"container.WaitResponse.Error":                                   "",
	"types.Version.BuildTime":                                        "",
	"types.DiskUsage.BuilderSize":                                    "",
	"registry.ServiceConfig.AllowNondistributableArtifactsCIDRs":     "",
	"registry.ServiceConfig.AllowNondistributableArtifactsHostnames": "",
}

type pkgInfo struct {
	name      string
	types     map[string]ast.Expr
	marshaler map[string]bool
	imports   map[string]map[string]string // file -> alias -> last path element
}

var pkgs = map[string]*pkgInfo{}

// The structs found so far (pkg.Name -> fields), and the inline ones named after their field.
var structs = map[string][]field{}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run scripts/go-types/main.go <moby>/api/types")
		os.Exit(2)
	}
	root := os.Args[1]
	err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || !info.IsDir() {
			return err
		}
		return load(path)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, r := range roots {
		if _, ok := lookup(r); ok {
			structFields(r)
		}
	}
	for key := range dockerd2010 {
		if !applied[key] {
			fmt.Fprintf(os.Stderr, "go-types: no field %s\n", key)
			os.Exit(1)
		}
	}
	out := map[string]any{
		"source": "github.com/docker/docker@v27.3.1+incompatible api/types (scripts/go-types)",
		"types":  structs,
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func load(dir string) error {
	fset := token.NewFileSet()
	parsed, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		return err
	}
	for name, p := range parsed {
		info := &pkgInfo{name: name, types: map[string]ast.Expr{}, marshaler: map[string]bool{}}
		for _, f := range p.Files {
			aliases := map[string]string{}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				last := path[strings.LastIndex(path, "/")+1:]
				alias := last
				if imp.Name != nil {
					alias = imp.Name.Name
				}
				aliases[alias] = last
			}
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.GenDecl:
					for _, s := range d.Specs {
						if ts, ok := s.(*ast.TypeSpec); ok {
							info.types[ts.Name.Name] = ts.Type
							if _, seen := fileAliases[name+"."+ts.Name.Name]; !seen {
								fileAliases[name+"."+ts.Name.Name] = aliases
							}
						}
					}
				case *ast.FuncDecl:
					if d.Recv != nil && d.Name.Name == "MarshalJSON" {
						t := d.Recv.List[0].Type
						if st, ok := t.(*ast.StarExpr); ok {
							t = st.X
						}
						if id, ok := t.(*ast.Ident); ok {
							info.marshaler[id.Name] = true
						}
					}
				}
			}
		}
		// Several directories share a last element (types/container and types/swarm/... do not);
		// the first one wins, as the roots use the top-level packages.
		if _, seen := pkgs[name]; !seen {
			pkgs[name] = info
		}
	}
	return nil
}

// The import aliases of the file declaring each type.
var fileAliases = map[string]map[string]string{}

func lookup(qual string) (ast.Expr, bool) {
	pkg, name, _ := strings.Cut(qual, ".")
	p, ok := pkgs[pkg]
	if !ok {
		return nil, false
	}
	t, ok := p.types[name]
	return t, ok
}

// describe writes the type expression t, seen in the file that declares owner (pkg.Name).
func describe(t ast.Expr, owner string, inlineName string) string {
	pkg, _, _ := strings.Cut(owner, ".")
	switch t := t.(type) {
	case *ast.Ident:
		switch t.Name {
		case "string":
			return "s"
		case "bool":
			return "b"
		case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32",
			"uint64", "float32", "float64", "uintptr":
			return "n"
		case "byte", "rune":
			return "n"
		case "any", "error":
			return "a"
		}
		return named(pkg + "." + t.Name)
	case *ast.SelectorExpr:
		alias := t.X.(*ast.Ident).Name
		last := alias
		if a, ok := fileAliases[owner][alias]; ok {
			last = a
		}
		qual := last + "." + t.Sel.Name
		if d, ok := external[alias+"."+t.Sel.Name]; ok {
			return d
		}
		if d, ok := external[qual]; ok {
			return d
		}
		if _, ok := lookup(qual); ok {
			return named(qual)
		}
		fmt.Fprintf(os.Stderr, "go-types: %s: unknown type %s.%s, written as anything\n", owner, alias, t.Sel.Name)
		return "a"
	case *ast.StarExpr:
		return "*" + describe(t.X, owner, inlineName)
	case *ast.ArrayType:
		if id, ok := t.Elt.(*ast.Ident); ok && t.Len == nil && (id.Name == "byte" || id.Name == "uint8") {
			return "s" // encoding/json writes []byte as base64
		}
		if t.Len == nil {
			return "[]" + describe(t.Elt, owner, inlineName)
		}
		return "[" + t.Len.(*ast.BasicLit).Value + "]" + describe(t.Elt, owner, inlineName)
	case *ast.MapType:
		return "{}" + describe(t.Value, owner, inlineName)
	case *ast.InterfaceType:
		return "a"
	case *ast.StructType:
		// An inline struct: named after the type and field that hold it.
		if _, done := structs[inlineName]; !done {
			structs[inlineName] = nil
			fileAliases[inlineName] = fileAliases[owner]
			structs[inlineName] = fieldsOf(t, inlineName)
		}
		return "T:" + inlineName
	}
	fmt.Fprintf(os.Stderr, "go-types: %s: unhandled type expression %T\n", owner, t)
	return "a"
}

// named describes a declared type: a struct becomes a reference, anything else its underlying
// type; a type with its own MarshalJSON is opaque.
func named(qual string) string {
	if d, ok := external[qual]; ok {
		return d
	}
	pkg, name, _ := strings.Cut(qual, ".")
	if p, ok := pkgs[pkg]; ok && p.marshaler[name] {
		return "a"
	}
	t, ok := lookup(qual)
	if !ok {
		fmt.Fprintf(os.Stderr, "go-types: unknown type %s, written as anything\n", qual)
		return "a"
	}
	if _, isStruct := t.(*ast.StructType); isStruct {
		structFields(qual)
		return "T:" + qual
	}
	return describe(t, qual, qual)
}

func structFields(qual string) []field {
	if f, done := structs[qual]; done {
		return f
	}
	structs[qual] = nil // stops recursion through pointers to itself
	t, _ := lookup(qual)
	st, ok := t.(*ast.StructType)
	if !ok {
		delete(structs, qual)
		return nil
	}
	fields := fieldsOf(st, qual)
	structs[qual] = fields
	return fields
}

// The dockerd2010 entries used.
var applied = map[string]bool{}

// with20 applies dockerd2010 to a field of owner.
func with20(f field, owner string) field {
	if before, ok := dockerd2010[owner+"."+f.Name]; ok {
		applied[owner+"."+f.Name] = true
		if before == "" {
			f.OmitEmpty = false
		} else {
			f.SentBefore = before
		}
	}
	return f
}

func fieldsOf(st *ast.StructType, owner string) []field {
	out := []field{}
	for _, f := range st.Fields.List {
		tag := ""
		if f.Tag != nil {
			raw, _ := strconv.Unquote(f.Tag.Value)
			tag = tagValue(raw, "json")
		}
		if tag == "-" {
			continue
		}
		tagName, opts, _ := strings.Cut(tag, ",")
		omit := strings.Contains(","+opts+",", ",omitempty,")
		if len(f.Names) == 0 {
			// Embedded: its fields are promoted unless the tag names it.
			if tagName == "" {
				embedded := f.Type
				if s, ok := embedded.(*ast.StarExpr); ok {
					embedded = s.X
				}
				d := describe(embedded, owner, owner+".embedded")
				if ref, ok := strings.CutPrefix(d, "T:"); ok {
					out = append(out, structFields(ref)...)
					continue
				}
			}
			name := tagName
			if name == "" {
				name = exprName(f.Type)
			}
			out = append(out, with20(field{Name: name, OmitEmpty: omit, Type: describe(f.Type, owner, owner+"."+name)}, owner))
			continue
		}
		for _, n := range f.Names {
			if !n.IsExported() {
				continue
			}
			name := tagName
			if name == "" {
				name = n.Name
			}
			out = append(out, with20(field{Name: name, OmitEmpty: omit, Type: describe(f.Type, owner, owner+"."+n.Name)}, owner))
		}
	}
	return out
}

func exprName(t ast.Expr) string {
	switch t := t.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return exprName(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	}
	return ""
}

// tagValue is reflect.StructTag.Get.
func tagValue(tag, key string) string {
	for tag != "" {
		tag = strings.TrimLeft(tag, " ")
		i := strings.Index(tag, ":")
		if i < 0 {
			return ""
		}
		name := tag[:i]
		rest := tag[i+1:]
		if !strings.HasPrefix(rest, "\"") {
			return ""
		}
		j := 1
		for j < len(rest) && rest[j] != '"' {
			if rest[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(rest) {
			return ""
		}
		value, _ := strconv.Unquote(rest[:j+1])
		if name == key {
			return value
		}
		tag = rest[j+1:]
	}
	return ""
}
