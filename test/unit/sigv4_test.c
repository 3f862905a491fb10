/*-------------------------------------------------------------------------
 *
 * sigv4_test.c
 *	  Unit tests of src/storage/sigv4.c, built as frontend code (FRONTEND,
 *	  libpgcommon, -lcrypto) by test/unit/run.sh.
 *
 *	  sigv4_test                          known answers and properties;
 *	                                      TAP-style lines, a summary line,
 *	                                      exit 1 on any failure
 *	  sigv4_test --presign-cases FILE     our side of the botocore
 *	                                      cross-check: one line per case of
 *	                                      FILE (see cases.tsv), "ID<TAB>URL"
 *	                                      or "ID<TAB>Authorization"
 *
 * The known answers are the AWS Signature Version 4 test suite (as
 * maintained in awslabs/aws-c-auth, tests/aws-signing-test-suite/v4: the
 * header-signed and the query-signed variant of every case; inputs written
 * here from the cases' request.txt and context.json) and the two worked
 * examples of the Amazon S3 API Reference (see docs reliability.md
 * section 3).  Everything the signer returns is freed, so that
 * LeakSanitizer (run.sh's ASan build) also checks the signer's own frees.
 *
 * test/unit/sigv4_test.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <openssl/evp.h>

#include "common/base64.h"
#include "lib/stringinfo.h"

#include "sigv4.h"

static int	nchecks = 0;
static int	nfailed = 0;

static void
check_true(const char *name, bool ok, const char *detail)
{
	nchecks++;
	if (ok)
		printf("ok %d - %s\n", nchecks, name);
	else
	{
		nfailed++;
		printf("not ok %d - %s\n", nchecks, name);
		if (detail)
			printf("#   %s\n", detail);
	}
}

static void
check_str(const char *name, const char *got, const char *want)
{
	nchecks++;
	if (got != NULL && strcmp(got, want) == 0)
		printf("ok %d - %s\n", nchecks, name);
	else
	{
		nfailed++;
		printf("not ok %d - %s\n#   got:  %s\n#   want: %s\n",
			   nchecks, name, got ? got : "(null)", want);
	}
}

/* the last line of a string to sign: the hex SHA-256 of the canonical request */
static const char *
sts_hash(const char *sts)
{
	const char *nl = strrchr(sts, '\n');

	return nl ? nl + 1 : sts;
}

/* the value of "Signature=" in an Authorization header or a query */
static const char *
signature_of(const char *s)
{
	const char *p = strstr(s, "Signature=");

	return p ? p + strlen("Signature=") : "";
}

/* ---------------------------------------------------------------------
 * The AWS SigV4 test suite
 * --------------------------------------------------------------------- */

#define SUITE_HOST "example.amazonaws.com"
#define SUITE_DATE "20150830T123600Z"
#define STS_TOKEN \
	"AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
#define FORM_BODY_SHA256 \
	"9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"

typedef struct SuiteCase
{
	const char *name;
	const char *method;
	const char *path;			/* the request line's path, unencoded */
	bool		normalize;		/* context.json "normalize" */
	const char *query;			/* the request line's query */
	const char *headers[9];		/* name, value, ...: besides host, in order */
	const char *token;			/* session token, or NULL */
	bool		sign_token;		/* false: the token is added after signing */
	bool		sign_body;		/* x-amz-content-sha256 of the form body */
	const char *creq_sha256;	/* header variant: hash of canonical request */
	const char *header_sig;
	const char *query_sig;		/* query variant, X-Amz-Expires=3600 */
} SuiteCase;

static const SuiteCase suite[] = {
	{"get-header-key-duplicate", "GET", "/", true, "",
		{"My-Header1", "value2", "My-Header1", "value2", "My-Header1", "value1"}, NULL, false, false,
		"dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
		"c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
	"3349ee0b81b4b589da0ff28a395c3591e04de515651dd74f298fa992d1507a97"},
	{"get-header-value-multiline", "GET", "/", true, "",
		{"My-Header1", "value1\n  value2\n     value3"}, NULL, false, false,
		"e99419459a677bc11de234014be3c4e72c1ea5b454ceb58b613061f5d7a162e8",
		"cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd",
	"e6f5def831211aca02987a44b96826706278c7bc078112ae0263659c5b2f2d56"},
	{"get-header-value-order", "GET", "/", true, "",
		{"My-Header1", "value4", "My-Header1", "value1", "My-Header1", "value3", "My-Header1", "value2"}, NULL, false, false,
		"31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
		"08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
	"313720e71ca6202fdcfa9b20f88de01a4eb0638a83c833b1c184359a4eda864e"},
	{"get-header-value-trim", "GET", "/", true, "",
		{"My-Header1", " value1", "My-Header2", " \"a   b   c\""}, NULL, false, false,
		"a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
		"acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
	"e7bb0fd515e125e1aec2ecc4c0c17484fb06f6846b927c35e46005dd3df3acd4"},
	{"get-relative-normalized", "GET", "/example/..", true, "", {NULL}, NULL, false, false,
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	"e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d"},
	{"get-relative-relative-normalized", "GET", "/example1/example2/../..", true, "", {NULL}, NULL, false, false,
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	"e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d"},
	{"get-relative-relative-unnormalized", "GET", "/example1/example2/../..", false, "", {NULL}, NULL, false, false,
		"76115030c0f3ff06c20fdff5ceb6d5e0b835a1743e00b94fea7c7f381269437b",
		"dc33e0856fd4baca4d7aa2146c38958283844764f38c74252a333df5e613003b",
	"b45db0bfd1cf15003493b733e33aa208dd981bd0e63037a6ed953f71d2118a16"},
	{"get-relative-unnormalized", "GET", "/example/..", false, "", {NULL}, NULL, false, false,
		"0511f456aa502b456d135fcb9d749374a55228f9dbeedda1eacf659e05b0615b",
		"eca7ead57bb5aa5c8e28007acd4ff04e1ff9a0ff3b237ec1554a184887ff9282",
	"cbcb213b928a077e43275df47b500f1dfaa864ab3f5a18f6b95f4ff0938167ee"},
	{"get-slash-dot-slash-normalized", "GET", "/./", true, "", {NULL}, NULL, false, false,
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	"e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d"},
	{"get-slash-dot-slash-unnormalized", "GET", "/./", false, "", {NULL}, NULL, false, false,
		"d67825e2268bd77a97c7688b8d72c31a3c1855b309808505ba0a9747d2465aa7",
		"68714168e6557f8f2de0ef956fc24dc2593a4bd2961f8df51898d8a134695145",
	"a9b13e8f3484d9505bf1a6f347219f8f35b0fe8f128ceea597efc146a3dfe90c"},
	{"get-slash-normalized", "GET", "//", true, "", {NULL}, NULL, false, false,
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	"e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d"},
	{"get-slash-pointless-dot-normalized", "GET", "/./example", true, "", {NULL}, NULL, false, false,
		"214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702",
		"ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
	"35034b1a0bdd969f346975386daf8aedfd4976573b8348cf4f67eaa41c5857de"},
	{"get-slash-pointless-dot-unnormalized", "GET", "/./example", false, "", {NULL}, NULL, false, false,
		"73895e0e829507e28e39fd24669aedc2434a8e179e547e3c075b42921f952cdb",
		"beb03f223f7deae4146464f06e29eebbee9c8afbe15c290cf07aa8b119e14cff",
	"72b11f16d9530b18204bfb71f2d6ab085894c0ed8d352730a6e76234c58b5e10"},
	{"get-slash-unnormalized", "GET", "//", false, "", {NULL}, NULL, false, false,
		"80cb39203d058af815de2b79250ff56e1b73eb9b4718c86556cdc6f150c5d209",
		"c88bcd3d312d75078c0cd961d6deae3f4c754924b01669efcfcb439fd5e5b76e",
	"b2a9542809db687769200f56a844a03f2bd0291d6eb90232d5101c6a579446cd"},
	{"get-slashes-normalized", "GET", "//example//", true, "", {NULL}, NULL, false, false,
		"cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015",
		"9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
	"c1834e8fb0307243711f0f907f6ab7311ed300d87f13792d7ee4da89ab93e082"},
	{"get-slashes-unnormalized", "GET", "//example//", false, "", {NULL}, NULL, false, false,
		"528ec3105ee1f34ab014bb0a1a45da0ed2742a4fea3555149e5b4d5d201eb240",
		"87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5",
	"822a5a9ba28072c5ab2bb4a6307d0c88276d40e49fec6b724c03fb4d4ba60fc2"},
	{"get-space-normalized", "GET", "/example space/", true, "", {NULL}, NULL, false, false,
		"63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
		"652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
	"7a1f416954786484c9824d93c1f26ef64acb9b1b6c9154d08c9f07d0e394abf6"},
	{"get-space-unnormalized", "GET", "/example space/", false, "", {NULL}, NULL, false, false,
		"63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
		"652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
	"7a1f416954786484c9824d93c1f26ef64acb9b1b6c9154d08c9f07d0e394abf6"},
	{"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", true, "", {NULL}, NULL, false, false,
		"6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
		"07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
	"95968482db1b9e0fadef6efc1bd24689f77c77d9ef56919c96a28cc92e0d6005"},
	{"get-utf8", "GET", "/\xe1\x88\xb4", true, "", {NULL}, NULL, false, false,
		"2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
		"8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
	"10eae3f14a260bd3911cc6d008d3c576d143b05b62f09782a7a4b37f52178e44"},
	{"get-vanilla", "GET", "/", true, "", {NULL}, NULL, false, false,
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	"e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d"},
	{"get-vanilla-empty-query-key", "GET", "/", true, "Param1=value1", {NULL}, NULL, false, false,
		"1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab",
		"a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
	"49096700cbbaa5753443850f40df10f904fc2fdb544dc9512203cc77c471a9de"},
	{"get-vanilla-query", "GET", "/", true, "", {NULL}, NULL, false, false,
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	"e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d"},
	{"get-vanilla-query-order-encoded", "GET", "/", true, "Param-3=Value3&Param=Value2&%E1%88%B4=Value1", {NULL}, NULL, false, false,
		"868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71",
		"371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
	"c5f1848ceec943ac2ca68ee720460c23aaae30a2300586597ada94c4a65e4787"},
	{"get-vanilla-query-order-key-case", "GET", "/", true, "Param2=value2&Param1=value1", {NULL}, NULL, false, false,
		"816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
		"b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
	"86012e2c9ad4d77369f5d81c11f75158aae4f895a085212cc6d3f923d300bed5"},
	{"get-vanilla-query-unreserved", "GET", "/", true,
		"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
		{NULL}, NULL, false, false,
		"c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
		"9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
	"8e76a88a7433637b12778d5592799b29ad21ecd6cf6325051c21d86f0acda2bf"},
	{"get-vanilla-utf8-query", "GET", "/", true, "\xe1\x88\xb4=bar", {NULL}, NULL, false, false,
		"eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
		"2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
	"0bdd809b1519ac4f0c1dc3540e2cc46bd0c7f778eda408b2ebf3b913d21ff600"},
	{"get-vanilla-with-session-token", "GET", "/", true, "", {NULL},
		"6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267", true, false,
		"067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b",
		"07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
	"7ff2b50b376cb4d151970630573d6291dc128cc5c2a12ffb237f73cc53f67b6c"},
	{"post-header-key-case", "POST", "/", true, "", {NULL}, NULL, false, false,
		"553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
		"5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
	"2ce6e6d2e0cf2f9d1b55fafec88cd20574c31dc2e7631979f71ba2310083e95b"},
	{"post-header-key-sort", "POST", "/", true, "", {"My-Header1", "value1"}, NULL, false, false,
		"9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
		"c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
	"c09d07e0d55871f10f2a6d350d994acf6825a3cae70673d7def55616e6119dd7"},
	{"post-header-value-case", "POST", "/", true, "", {"My-Header1", "VALUE1"}, NULL, false, false,
		"d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
		"cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
	"0698bc9e4f7f9139065ba2909c0e99da257e8e2a42492a097bcd46d792391fed"},
	/* the token is added after signing: signed as post-vanilla */
	{"post-sts-header-after", "POST", "/", true, "", {NULL}, STS_TOKEN, false, false,
		"553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
		"5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
	"2ce6e6d2e0cf2f9d1b55fafec88cd20574c31dc2e7631979f71ba2310083e95b"},
	{"post-sts-header-before", "POST", "/", true, "", {NULL}, STS_TOKEN, true, false,
		"c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
		"85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
	"46c2e3c63c1dbe7d39f8ada16fe7f001c1f56c5791441565323677f96308871c"},
	{"post-vanilla", "POST", "/", true, "", {NULL}, NULL, false, false,
		"553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
		"5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
	"2ce6e6d2e0cf2f9d1b55fafec88cd20574c31dc2e7631979f71ba2310083e95b"},
	{"post-vanilla-empty-query-value", "POST", "/", true, "Param1=value1", {NULL}, NULL, false, false,
		"9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
		"28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
	"a9ef26247f293bffe40eeff86a0480ba8c14d31503b2e0c3399e3a16bf1a3682"},
	{"post-vanilla-query", "POST", "/", true, "Param1=value1", {NULL}, NULL, false, false,
		"9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
		"28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
	"a9ef26247f293bffe40eeff86a0480ba8c14d31503b2e0c3399e3a16bf1a3682"},
	{"post-x-www-form-urlencoded", "POST", "/", true, "",
		{"Content-Type", "application/x-www-form-urlencoded", "Content-Length", "13"}, NULL, false, true,
		"b1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb",
		"d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
	"89a40deed0f26f9461242825a082d2222717248abc7ab41f552ad84a94ad46e9"},
	{"post-x-www-form-urlencoded-parameters", "POST", "/", true, "",
		{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8", "Content-Length", "13"}, NULL, false, true,
		"a89f1a5b53e37702ee6363ce1da3ce8f54386f3c8f352ae652153c2982a0bc4d",
		"328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422",
	"0dbeb9b026c7b6675f266b8427efec9b4fa8b1f6ef1477d717aea231106eab4d"},
};

static void
run_suite_case(const SuiteCase *c)
{
	PgbSigV4Creds creds = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	NULL, "us-east-1", "service"};
	PgbSigV4Request req = {0};
	const char *names[12];
	const char *values[12];
	int			n = 0;
	int			i;
	char	   *path;
	char	   *auth;
	char	   *creq;
	char	   *sts;
	char	   *query;
	char	   *name;

	/*
	 * S3-style signing (normalize_path false) takes the wire path, encoded
	 * once by the caller; the normalising signer encodes what it is given
	 * (see src/storage/sigv4.c), so it gets the suite's raw path.
	 */
	path = c->normalize ? pstrdup(c->path) : pgb_sigv4_uri_encode(c->path, true);
	req.method = c->method;
	req.path = path;
	req.normalize_path = c->normalize;
	req.query = c->query;
	req.payload_hash = c->sign_body ? FORM_BODY_SHA256 : PGB_SIGV4_EMPTY_SHA256;
	req.amz_date = SUITE_DATE;

	/* header variant: host, the case's headers, x-amz-date (and friends) */
	names[n] = "Host";
	values[n++] = SUITE_HOST;
	for (i = 0; c->headers[i] != NULL; i += 2)
	{
		names[n] = c->headers[i];
		values[n++] = c->headers[i + 1];
	}
	names[n] = "X-Amz-Date";
	values[n++] = SUITE_DATE;
	if (c->sign_body)
	{
		names[n] = "X-Amz-Content-Sha256";
		values[n++] = FORM_BODY_SHA256;
	}
	if (c->token && c->sign_token)
	{
		names[n] = "X-Amz-Security-Token";
		values[n++] = c->token;
	}
	req.nheaders = n;
	req.header_names = names;
	req.header_values = values;
	auth = pgb_sigv4_authorization(&creds, &req, &creq, &sts);
	name = psprintf("suite %s: SHA-256 of the canonical request", c->name);
	check_str(name, sts_hash(sts), c->creq_sha256);
	pfree(name);
	name = psprintf("suite %s: header signature", c->name);
	check_str(name, signature_of(auth), c->header_sig);
	pfree(name);
	pfree(auth);
	pfree(creq);
	pfree(sts);

	/*
	 * query variant: the signed headers are host and the case's own ones,
	 * the session token (when signed) a query parameter
	 */
	n = 1;
	for (i = 0; c->headers[i] != NULL; i += 2)
	{
		names[n] = c->headers[i];
		values[n++] = c->headers[i + 1];
	}
	req.nheaders = n;
	creds.session_token = c->sign_token ? c->token : NULL;
	query = pgb_sigv4_presign(&creds, &req, 3600, NULL, NULL);
	name = psprintf("suite %s: query signature", c->name);
	check_str(name, signature_of(query), c->query_sig);
	pfree(name);
	pfree(query);
	pfree(path);
}

/* ---------------------------------------------------------------------
 * The Amazon S3 API Reference examples
 * --------------------------------------------------------------------- */

static const PgbSigV4Creds s3_example_creds = {
	"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	NULL, "us-east-1", "s3"
};

static void
test_s3_examples(void)
{
	static const char *const names[] = {"Host", "Range", "x-amz-content-sha256", "x-amz-date"};
	static const char *const values[] = {"examplebucket.s3.amazonaws.com", "bytes=0-9",
	PGB_SIGV4_EMPTY_SHA256, "20130524T000000Z"};
	static const char *const host_name[] = {"host"};
	static const char *const host_value[] = {"examplebucket.s3.amazonaws.com"};
	PgbSigV4Request req = {0};
	char	   *auth;
	char	   *creq;
	char	   *sts;
	char	   *query;
	char	   *url;

	/* "Signature Calculations for the Authorization Header": GET Object */
	req.method = "GET";
	req.path = "/test.txt";
	req.query = "";
	req.nheaders = 4;
	req.header_names = names;
	req.header_values = values;
	req.payload_hash = PGB_SIGV4_EMPTY_SHA256;
	req.amz_date = "20130524T000000Z";
	auth = pgb_sigv4_authorization(&s3_example_creds, &req, &creq, &sts);
	check_str("S3 header auth GET /test.txt: canonical request", creq,
			  "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
			  "x-amz-content-sha256:" PGB_SIGV4_EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
			  "host;range;x-amz-content-sha256;x-amz-date\n" PGB_SIGV4_EMPTY_SHA256);
	check_str("S3 header auth GET /test.txt: SHA-256 of the canonical request", sts_hash(sts),
			  "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	check_str("S3 header auth GET /test.txt: Authorization", auth,
			  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
			  "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
			  "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	pfree(auth);
	pfree(creq);
	pfree(sts);

	/* "Authenticating Requests: Using Query Parameters": presigned GET */
	req.nheaders = 1;
	req.header_names = host_name;
	req.header_values = host_value;
	req.payload_hash = PGB_SIGV4_UNSIGNED_PAYLOAD;
	query = pgb_sigv4_presign(&s3_example_creds, &req, 86400, &creq, &sts);
	check_str("S3 presigned GET: SHA-256 of the canonical request", sts_hash(sts),
			  "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
	check_str("S3 presigned GET: signature", signature_of(query),
			  "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	url = psprintf("https://examplebucket.s3.amazonaws.com%s?%s", req.path, query);
	check_str("S3 presigned GET: full URL", url,
			  "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	pfree(url);
	pfree(query);
	pfree(creq);
	pfree(sts);
}

/* ---------------------------------------------------------------------
 * Encoding and canonicalisation properties
 * --------------------------------------------------------------------- */

static void
test_uri_encode(void)
{
	int			b;
	int			bad = 0;
	char		detail[128] = "";
	char	   *s;

	/* every byte 1..255 alone, with and without keep_slash */
	for (b = 1; b < 256; b++)
	{
		char		in[2] = {(char) b, '\0'};
		char		want[4];
		bool		unreserved = strchr("-._~", b) != NULL ||
			(b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9');
		int			keep;

		for (keep = 0; keep <= 1; keep++)
		{
			if (unreserved || (keep && b == '/'))
				snprintf(want, sizeof(want), "%c", b);
			else
				snprintf(want, sizeof(want), "%%%02X", b);
			s = pgb_sigv4_uri_encode(in, keep);
			if (strcmp(s, want) != 0)
			{
				if (bad++ == 0)
					snprintf(detail, sizeof(detail), "byte 0x%02X keep_slash=%d: got %s, want %s",
							 b, keep, s, want);
			}
			pfree(s);
		}
	}
	check_true("uri_encode: each byte 0x01..0xFF (unreserved kept, others %XX upper-case)",
			   bad == 0, detail);

	/* all 255 bytes in one string (byte 0 ends a C string: encoded as nothing) */
	{
		char		all[256];
		StringInfoData want;

		initStringInfo(&want);
		for (b = 1; b < 256; b++)
		{
			all[b - 1] = (char) b;
			if (strchr("-._~/", b) != NULL || isalnum(b))
				appendStringInfoChar(&want, (char) b);
			else
				appendStringInfo(&want, "%%%02X", b);
		}
		all[255] = '\0';
		s = pgb_sigv4_uri_encode(all, true);
		check_str("uri_encode: bytes 0x01..0xFF in one string, keep_slash", s, want.data);
		pfree(s);
		pfree(want.data);
	}

	s = pgb_sigv4_uri_encode("", false);
	check_str("uri_encode: empty", s, "");
	pfree(s);
	s = pgb_sigv4_uri_encode("my dir/a+b%c~d/\xe2\x82\xac//x", true);
	check_str("uri_encode: key with space, '+', '%', '~', UTF-8 and '//', keep_slash", s,
			  "my%20dir/a%2Bb%25c~d/%E2%82%AC//x");
	pfree(s);
	s = pgb_sigv4_uri_encode("my dir/a+b%c~d/\xe2\x82\xac//x", false);
	check_str("uri_encode: the same key, '/' encoded", s,
			  "my%20dir%2Fa%2Bb%25c~d%2F%E2%82%AC%2F%2Fx");
	pfree(s);
}

static void
test_sha256(void)
{
	char	   *s;

	s = pgb_sigv4_sha256_hex("", 0);
	check_str("sha256_hex: empty", s, PGB_SIGV4_EMPTY_SHA256);
	pfree(s);
	s = pgb_sigv4_sha256_hex("abc", 3);
	check_str("sha256_hex: abc", s,
			  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	pfree(s);
	s = pgb_sigv4_sha256_hex("a\0b", 3);
	check_str("sha256_hex: embedded NUL is data", s,
			  "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138");
	pfree(s);
}

/* the canonical query (third line of the canonical request) of a wire query */
static char *
canonical_query_of(const char *query)
{
	static const char *const names[] = {"host"};
	static const char *const values[] = {"example.amazonaws.com"};
	PgbSigV4Request req = {0};
	char	   *auth;
	char	   *creq;
	char	   *line;
	char	   *nl;
	char	   *result;

	req.method = "GET";
	req.path = "/";
	req.query = query;
	req.nheaders = 1;
	req.header_names = names;
	req.header_values = values;
	req.payload_hash = PGB_SIGV4_EMPTY_SHA256;
	req.amz_date = "20240101T000000Z";
	auth = pgb_sigv4_authorization(&s3_example_creds, &req, &creq, NULL);
	line = strchr(strchr(creq, '\n') + 1, '\n') + 1;
	nl = strchr(line, '\n');
	result = pnstrdup(line, nl - line);
	pfree(auth);
	pfree(creq);
	return result;
}

static void
check_query(const char *name, const char *query, const char *want)
{
	char	   *got = canonical_query_of(query);
	char	   *full = psprintf("canonical query: %s", name);

	check_str(full, got, want);
	pfree(full);
	pfree(got);
}

static void
test_canonical_query(void)
{
	check_query("empty", "", "");
	check_query("'uploads' without '='", "uploads", "uploads=");
	check_query("'uploads=' equals 'uploads'", "uploads=", "uploads=");
	check_query("sorted by name, then value", "b=2&a=1&a=0&A=9", "A=9&a=0&a=1&b=2");
	check_query("sorted by ENCODED name ('%' < '~')", "a~=1&a%C3%A9=2", "a%C3%A9=2&a~=1");
	check_query("raw UTF-8 encoded", "k=\xc3\xa9", "k=%C3%A9");
	check_query("lower-case %xx re-encoded upper-case", "k=a%2fb", "k=a%2Fb");
	check_query("'/' in a value encoded", "prefix=a/b/", "prefix=a%2Fb%2F");
	check_query("'+' is a literal '+'", "k=a+b", "k=a%2Bb");
	check_query("%20 stays %20", "k=a%20b", "k=a%20b");
	check_query("bad escapes are a literal '%'", "a=%zz&b=%4&c=%", "a=%25zz&b=%254&c=%25");
	check_query("only the first '=' splits", "k=a=b", "k=a%3Db");
	check_query("empty items skipped", "&a=1&&b=2&", "a=1&b=2");
	check_query("empty name", "=x", "=x");
	check_query("unreserved kept", "-._~=-._~", "-._~=-._~");
	check_query("decoded %00 re-encoded", "k=a%00b", "k=a%00b");
	check_query("S3 upload part", "uploadId=a%2Fb%2Bc%3D&partNumber=10", "partNumber=10&uploadId=a%2Fb%2Bc%3D");
}

static void
test_headers_and_paths(void)
{
	static const char *const names[] = {" X-Amz-Date ", "HOST", "x-amz-meta-a", "X-AMZ-META-A", "X-Tab"};
	static const char *const values[] = {"20240101T000000Z", "  h.example.com  ", "1", " 2  3 ",
	"\ta\t\tb\r\n c "};
	PgbSigV4Request req = {0};
	char	   *auth;
	char	   *creq;
	char	   *uri;

	req.method = "PUT";
	req.path = "/bucket/my%20dir/a%2Bb%25c~d/%E2%82%AC//x";
	req.query = "";
	req.nheaders = 5;
	req.header_names = names;
	req.header_values = values;
	req.payload_hash = PGB_SIGV4_UNSIGNED_PAYLOAD;
	req.amz_date = "20240101T000000Z";
	auth = pgb_sigv4_authorization(&s3_example_creds, &req, &creq, NULL);
	check_str("headers: names trimmed and lower-cased, values trimmed and collapsed, repeats joined, sorted", creq,
			  "PUT\n/bucket/my%20dir/a%2Bb%25c~d/%E2%82%AC//x\n\n"
			  "host:h.example.com\nx-amz-date:20240101T000000Z\nx-amz-meta-a:1,2 3\nx-tab:a b c\n\n"
			  "host;x-amz-date;x-amz-meta-a;x-tab\nUNSIGNED-PAYLOAD");
	check_true("Authorization: SignedHeaders list",
			   strstr(auth, ", SignedHeaders=host;x-amz-date;x-amz-meta-a;x-tab, Signature=") != NULL, auth);
	pfree(auth);
	pfree(creq);

	/* the S3 wire path is signed as is ('//', '.', '..' kept) */
	req.path = "/b/./c/../d//";
	req.nheaders = 2;
	auth = pgb_sigv4_authorization(&s3_example_creds, &req, &creq, NULL);
	uri = strchr(creq, '\n') + 1;
	check_true("S3 path: not normalised", strncmp(uri, "/b/./c/../d//\n", 14) == 0, creq);
	pfree(auth);
	pfree(creq);

	/* normalising signer: dot segments and repeated slashes, then encoded again */
	req.path = "/a/./b/../c//d%20e/";
	req.normalize_path = true;
	auth = pgb_sigv4_authorization(&s3_example_creds, &req, &creq, NULL);
	uri = strchr(creq, '\n') + 1;
	check_true("normalize_path: /a/./b/../c//d%20e/ -> /a/c/d%2520e/",
			   strncmp(uri, "/a/c/d%2520e/\n", 14) == 0, creq);
	pfree(auth);
	pfree(creq);
	req.path = "";
	auth = pgb_sigv4_authorization(&s3_example_creds, &req, &creq, NULL);
	uri = strchr(creq, '\n') + 1;
	check_true("empty path signs as /", strncmp(uri, "/\n", 2) == 0, creq);
	pfree(auth);
	pfree(creq);
	req.path = "/..";
	auth = pgb_sigv4_authorization(&s3_example_creds, &req, &creq, NULL);
	uri = strchr(creq, '\n') + 1;
	check_true("normalize_path: '..' above the root stays at /", strncmp(uri, "/\n", 2) == 0, creq);
	pfree(auth);
	pfree(creq);
}

static void
test_presign_properties(void)
{
	static const char *const names[] = {"host"};
	static const char *const values[] = {"bucket.s3.eu-west-1.amazonaws.com"};
	PgbSigV4Creds creds = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	"FwoG/ZXIv+YXdz=", "eu-west-1", "s3"};
	const char *want_prefix =
		"X-Amz-Algorithm=AWS4-HMAC-SHA256"
		"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240229%2Feu-west-1%2Fs3%2Faws4_request"
		"&X-Amz-Date=20240229T235959Z&X-Amz-Expires=604800"
		"&X-Amz-Security-Token=FwoG%2FZXIv%2BYXdz%3D&X-Amz-SignedHeaders=host"
		"&partNumber=2&versionId=v%2F1&X-Amz-Signature=";
	PgbSigV4Request req = {0};
	char	   *q1;
	char	   *q2;
	char	   *creq;

	req.method = "GET";
	req.path = "/my%20dir/a%2Bb%25c~d/%E2%82%AC//x";
	req.query = "versionId=v%2F1&partNumber=2";
	req.nheaders = 1;
	req.header_names = names;
	req.header_values = values;
	req.payload_hash = PGB_SIGV4_UNSIGNED_PAYLOAD;
	req.amz_date = "20240229T235959Z";

	q1 = pgb_sigv4_presign(&creds, &req, 604800, &creq, NULL);
	check_true("presign with a session token: parameters sorted, token signed, signature last",
			   strncmp(q1, want_prefix, strlen(want_prefix)) == 0 &&
			   strlen(q1) == strlen(want_prefix) + 64, q1);
	check_true("presign: the canonical request holds the same query, without the signature",
			   strstr(creq, "\n/my%20dir/a%2Bb%25c~d/%E2%82%AC//x\nX-Amz-Algorithm=") != NULL &&
			   strstr(creq, "&versionId=v%2F1\nhost:bucket.s3.eu-west-1.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD") != NULL &&
			   strstr(creq, "X-Amz-Signature") == NULL, creq);
	pfree(creq);

	/* an empty session token is no token */
	creds.session_token = "";
	q2 = pgb_sigv4_presign(&creds, &req, 604800, NULL, NULL);
	check_true("presign: empty session token leaves X-Amz-Security-Token out",
			   strstr(q2, "X-Amz-Security-Token") == NULL, q2);
	check_true("presign: the session token changes the signature",
			   strcmp(signature_of(q1), signature_of(q2)) != 0, NULL);
	pfree(q1);
	pfree(q2);

	/* same request, same answer; query order on the wire does not matter */
	q1 = pgb_sigv4_presign(&creds, &req, 60, NULL, NULL);
	req.query = "partNumber=2&versionId=v%2f1";
	q2 = pgb_sigv4_presign(&creds, &req, 60, NULL, NULL);
	check_str("presign: wire order and hex case of the request's query do not matter", q2, q1);
	pfree(q1);
	pfree(q2);

	/* 'uploads' vs 'uploads=' */
	req.query = "uploads";
	q1 = pgb_sigv4_presign(&creds, &req, 60, NULL, NULL);
	req.query = "uploads=";
	q2 = pgb_sigv4_presign(&creds, &req, 60, NULL, NULL);
	check_str("presign: 'uploads' and 'uploads=' sign the same", q2, q1);
	check_true("presign: 'uploads=' sorted after the X-Amz- parameters",
			   strstr(q1, "&X-Amz-SignedHeaders=host&uploads=&X-Amz-Signature=") != NULL, q1);
	pfree(q1);
	pfree(q2);
}

/* ---------------------------------------------------------------------
 * --presign-cases FILE: our side of the botocore cross-check
 * --------------------------------------------------------------------- */

#define NCOLS 13

/* \xNN and \\ escapes of cases.tsv */
static char *
unescape(const char *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	while (*s)
	{
		if (s[0] == '\\' && s[1] == 'x' && isxdigit((unsigned char) s[2]) &&
			isxdigit((unsigned char) s[3]))
		{
			char		hex[3] = {s[2], s[3], '\0'};

			appendStringInfoChar(&buf, (char) strtol(hex, NULL, 16));
			s += 4;
		}
		else if (s[0] == '\\' && s[1] == '\\')
		{
			appendStringInfoChar(&buf, '\\');
			s += 2;
		}
		else
			appendStringInfoChar(&buf, *s++);
	}
	return buf.data;
}

static char *
content_md5_base64(const char *body, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char	   *out;
	int			n;

	if (!EVP_Digest(body, len, md, &mdlen, EVP_md5(), NULL))
	{
		fprintf(stderr, "MD5 failed\n");
		exit(2);
	}
	out = palloc(pg_b64_enc_len(mdlen) + 1);
	n = pg_b64_encode((const void *) md, mdlen, out, pg_b64_enc_len(mdlen));	/* char * up to 17, uint8 * from 18 */
	out[n] = '\0';
	return out;
}

/*
 * One case, as an S3 client of this signer would build it: the host is the
 * endpoint's (bucket.endpoint in virtual style), the path "/bucket/key" or
 * "/key" with the key encoded by pgb_sigv4_uri_encode(key, true).
 */
static void
run_presign_case(char **f)
{
	const char *id = f[0],
			   *mode = f[1],
			   *method = f[2],
			   *style = f[3],
			   *endpoint = f[4],
			   *bucket = f[5];
	char	   *key = strcmp(f[6], "-") == 0 ? NULL : unescape(f[6]);
	char	   *token = strcmp(f[9], "-") == 0 ? NULL : unescape(f[9]);
	const char *query = strcmp(f[10], "-") == 0 ? "" : f[10];
	const char *amz_date = f[11];
	char	   *body = unescape(f[12]);
	const char *scheme_end = strstr(endpoint, "://");
	bool		virtual_style = strcmp(style, "virtual") == 0;
	bool		https = strncmp(endpoint, "https://", 8) == 0;
	char	   *scheme;
	char	   *host;
	char	   *enc_key;
	char	   *path;
	PgbSigV4Creds creds = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	token, f[7], "s3"};
	PgbSigV4Request req = {0};
	const char *names[6];
	const char *values[6];

	if (scheme_end == NULL)
	{
		fprintf(stderr, "case %s: endpoint %s has no scheme\n", id, endpoint);
		exit(2);
	}
	scheme = pnstrdup(endpoint, scheme_end - endpoint);
	host = virtual_style ? psprintf("%s.%s", bucket, scheme_end + 3) : pstrdup(scheme_end + 3);
	enc_key = key ? pgb_sigv4_uri_encode(key, true) : pstrdup("");
	if (virtual_style)
		path = psprintf("/%s", enc_key);
	else
		path = key ? psprintf("/%s/%s", bucket, enc_key) : psprintf("/%s", bucket);

	req.method = method;
	req.path = path;
	req.normalize_path = false;
	req.query = query;
	req.amz_date = amz_date;
	req.header_names = names;
	req.header_values = values;
	names[0] = "host";
	values[0] = host;
	req.nheaders = 1;

	if (strcmp(mode, "presign") == 0)
	{
		char	   *q;

		req.payload_hash = PGB_SIGV4_UNSIGNED_PAYLOAD;
		q = pgb_sigv4_presign(&creds, &req, atoi(f[8]), NULL, NULL);
		printf("%s\t%s://%s%s?%s\n", id, scheme, host, path, q);
		pfree(q);
	}
	else
	{
		/*
		 * A PutObject as botocore sends it: Content-MD5 of the body; over
		 * https the payload is not signed (the MD5 protects it), over http
		 * it is.
		 */
		char	   *md5 = content_md5_base64(body, strlen(body));
		char	   *sha = https ? pstrdup(PGB_SIGV4_UNSIGNED_PAYLOAD) :
			pgb_sigv4_sha256_hex(body, strlen(body));
		char	   *auth;

		names[req.nheaders] = "Content-MD5";
		values[req.nheaders++] = md5;
		names[req.nheaders] = "X-Amz-Content-SHA256";
		values[req.nheaders++] = sha;
		names[req.nheaders] = "X-Amz-Date";
		values[req.nheaders++] = amz_date;
		if (token)
		{
			names[req.nheaders] = "X-Amz-Security-Token";
			values[req.nheaders++] = token;
		}
		req.payload_hash = sha;
		auth = pgb_sigv4_authorization(&creds, &req, NULL, NULL);
		printf("%s\t%s\n", id, auth);
		pfree(auth);
		pfree(md5);
		pfree(sha);
	}

	pfree(scheme);
	pfree(host);
	pfree(enc_key);
	pfree(path);
	pfree(body);
	if (key)
		pfree(key);
	if (token)
		pfree(token);
}

static int
presign_cases(const char *file)
{
	FILE	   *fp = fopen(file, "r");
	char		line[4096];
	int			lineno = 0;

	if (fp == NULL)
	{
		fprintf(stderr, "could not open %s: %s\n", file, strerror(errno));
		return 2;
	}
	while (fgets(line, sizeof(line), fp) != NULL)
	{
		char	   *f[NCOLS];
		char	   *p = line;
		int			n = 0;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		while (n < NCOLS)
		{
			f[n++] = p;
			p = strchr(p, '\t');
			if (p == NULL)
				break;
			*p++ = '\0';
		}
		if (n != NCOLS || p != NULL)
		{
			fprintf(stderr, "%s:%d: want %d tab-separated fields\n", file, lineno, NCOLS);
			fclose(fp);
			return 2;
		}
		run_presign_case(f);
	}
	fclose(fp);
	return 0;
}

int
main(int argc, char **argv)
{
	size_t		i;

	if (argc == 3 && strcmp(argv[1], "--presign-cases") == 0)
		return presign_cases(argv[2]);
	if (argc != 1)
	{
		fprintf(stderr, "usage: %s [--presign-cases FILE]\n", argv[0]);
		return 2;
	}

	for (i = 0; i < lengthof(suite); i++)
		run_suite_case(&suite[i]);
	test_s3_examples();
	test_uri_encode();
	test_sha256();
	test_canonical_query();
	test_headers_and_paths();
	test_presign_properties();

	printf("1..%d\n", nchecks);
	printf("sigv4: %d checks, %d failed\n", nchecks, nfailed);
	return nfailed > 0 ? 1 : 0;
}
