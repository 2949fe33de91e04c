// The vocabulary of the project's small test model (see test-model.ts). Changing anything in this
// file changes every generated model, so the model's `generator_version` must be bumped with it.

/** Special tokens, in id order: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4. */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

/** Common English words (lowercase). */
const TEXT_WORDS = `
the be to of and a in that have it for not on with he as you do at this but his by from they we
say her she or an will my one all would there their what so up out if about who get which go me
when make can like time no just him know take people into year your good some could them see
other than then now look only come its over think also back after use two how our work first
well way even new want because any these give day most us is are was were been has had did does
said made went got very more many much such each every where why here still again never always
often today tomorrow yesterday before under between through during without within against among
service services cache request requests response error errors failure failures timeout retry
circuit breaker open closed half state health ready live model models embedding embeddings text
code data user users server client network database redis query search index document documents
value key keys memory disk load loaded loading fast slow latency second seconds minute minutes
hour hours number string list file files line lines name names page pages world hello test tests
example system systems problem problems question answer answers help please thank thanks yes ok
small large big little long short high low old young right left great same different important
public private local remote read write start stop run running call calls send receive message
messages event events metric metrics trace traces log logs alert alerts dashboard report version
build release deploy update change changes issue issues fix bug feature features support team
`;

/** Common programming words (lowercase identifiers and keywords). */
const CODE_WORDS = `
function return const let var if else for while do switch case break continue default try catch
finally throw new class extends implements interface type enum import export from as async await
yield static public private protected readonly abstract void null undefined true false this super
typeof instanceof in of delete def self lambda pass none elif except raise with assert global
nonlocal print len range str int float bool dict tuple set get put post patch head options fn
impl struct trait pub mod use mut match loop println vec string number boolean object array map
filter reduce foreach push pop shift slice splice join split length size index keys values entries
promise resolve reject then callback error err res req ctx config env args argv main init test
expect describe it assert equal deep log console warn info debug json parse stringify math max min
abs floor ceil round date now id uuid hash key value item items node nodes tree list queue stack
buffer stream read write open close file path dir url http https fetch request response status
header headers body query params route router app server port host timeout signal abort
`;

function words(block: string): string[] {
  return block.split(/\s+/).filter((w) => w.length > 0);
}

/** Frequent suffixes, as WordPiece continuations (`##ing`, ...). */
const SUFFIXES = ['s', 'es', 'ed', 'er', 'ers', 'ing', 'ly', 'tion', 'ment', 'able', 'ize', 'ness'];

/**
 * The full vocabulary in id order: special tokens; every printable non-space ASCII character as a
 * word start and as a `##` continuation (so every ASCII word tokenizes without [UNK]); common
 * suffixes; then the text and code words. Duplicates are dropped, keeping the first id.
 */
export function buildVocabulary(): string[] {
  const out: string[] = [...SPECIAL_TOKENS];
  const seen = new Set<string>(out);
  const add = (token: string): void => {
    if (!seen.has(token)) {
      seen.add(token);
      out.push(token);
    }
  };
  for (let c = 0x21; c <= 0x7e; c++) add(String.fromCharCode(c));
  for (let c = 0x21; c <= 0x7e; c++) add(`##${String.fromCharCode(c)}`);
  for (const suffix of SUFFIXES) add(`##${suffix}`);
  for (const w of words(TEXT_WORDS)) add(w);
  for (const w of words(CODE_WORDS)) add(w);
  return out;
}
