//! `missing-import`: a component that imports an interface no host provides
//! (`test:missing/gadget`), so that startup must fail naming the component and that import.

wit_bindgen::generate!({
    inline: r#"
        package test:missing;

        interface gadget {
            poke: func() -> u32;
        }

        interface run {
            go: func() -> u32;
        }

        world missing-import {
            import gadget;
            export run;
        }
    "#,
});

struct Component;

impl exports::test::missing::run::Guest for Component {
    fn go() -> u32 {
        test::missing::gadget::poke()
    }
}

export!(Component);
